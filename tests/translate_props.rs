#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Properties of the pure request translator, for every route and both `steps` policies:
//! * it never panics, whatever the JSON object;
//! * an accepted request carries no legacy-only key, no credential key and no credential
//!   value anywhere in its body or query, uses GET ⇔ query / POST ⇔ object body, and its
//!   warnings are safe to send as an HTTP header;
//! * a refused request names a field.

use bk_job_shim::translate::credentials::CREDENTIAL_KEYS;
use bk_job_shim::translate::request::LEGACY_ONLY_KEYS;
use bk_job_shim::translate::routes::V3_RESOURCES;
use bk_job_shim::translate::{
    JsonBody, Method, Options, Route, StepsPolicy, Translated, translate_request,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Credential values carry this marker; no other generated string can contain it
/// (generated text is lower case).
const MARK: &str = "SECRET";

fn routes() -> Vec<Route> {
    let mut r = vec![
        Route::ExecuteJob,
        Route::FastExecuteScript,
        Route::FastPushFile,
        Route::GetJobInstanceStatus,
        Route::GetJobInstanceLog,
    ];
    r.extend(V3_RESOURCES.iter().map(|res| Route::V3(*res)));
    r
}

#[allow(clippy::field_reassign_with_default)]
fn options(steps: StepsPolicy) -> Options {
    let mut opts = Options::default();
    opts.steps = steps;
    opts
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

const KNOWN_KEYS: &[&str] = &[
    "bk_biz_id",
    "bk_scope_type",
    "bk_scope_id",
    "bk_job_id",
    "job_plan_id",
    "steps",
    "global_vars",
    "global_var_list",
    "id",
    "name",
    "value",
    "server",
    "target_server",
    "ip_list",
    "custom_query_id",
    "dynamic_group_id_list",
    "dynamic_group_list",
    "topo_node_list",
    "node_type",
    "host_id_list",
    "bk_cloud_id",
    "ip",
    "bk_callback_url",
    "callback_url",
    "script_id",
    "script_version_id",
    "script_content",
    "script_type",
    "script_language",
    "script_param",
    "script_timeout",
    "timeout",
    "account",
    "account_alias",
    "account_id",
    "is_param_sensitive",
    "task_name",
    "file_source",
    "file_source_list",
    "files",
    "file_list",
    "file_target_path",
    "job_instance_id",
    "return_ip_result",
    "bk_app_code",
    "app_code",
    "bk_app_secret",
    "app_secret",
    "bk_token",
    "bk_username",
    "username",
    "access_token",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KNOWN_KEYS).prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
    ]
}

fn int_like() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-3i64..12).prop_map(Value::from),
        (0i64..20_000_000).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-3i64..300_000).prop_map(|i| Value::from(i.to_string())),
        Just(json!(" 7 ")),
        Just(json!("")),
        Just(json!("abc")),
        Just(json!(1.5)),
        Just(json!(2.0)),
        Just(json!(1e300)),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
    ]
}

fn ip_like() -> impl Strategy<Value = Value> {
    prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| json!(format!("10.0.{a}.{b}"))),
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| json!(format!(" 10.{a}.0.{b} "))),
        Just(json!("10.0.0.256")),
        Just(json!("10.0.0")),
        Just(json!("::1")),
        Just(json!("")),
        Just(json!(10)),
        Just(Value::Null),
    ]
}

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z0-9 .:/_=+-]{0,12}".prop_map(Value::from),
        Just(json!("ZWNobyAkMQ==")),
        Just(json!("aGVsbG8")),
        Just(json!("not base64!")),
        Just(json!("http://cb.example.com/x")),
        Just(json!("2:group")),
        Just(json!("biz")),
        Just(json!("biz_set")),
        Just(json!("\u{e9}\n\u{7f}")),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![int_like(), ip_like(), text()]
}

/// Arbitrary JSON, keys biased to the names the translator reads.
fn any_json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(key(), any_json(), 0..10).prop_map(|m| m.into_iter().collect())
}

/// A value of the expected kind most of the time, anything else sometimes.
fn mostly(s: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![12 => s, 1 => any_json()].boxed()
}

/// Valid values most of the time, near misses sometimes.
fn noisy(
    good: impl Strategy<Value = Value> + 'static,
    bad: impl Strategy<Value = Value> + 'static,
) -> BoxedStrategy<Value> {
    prop_oneof![10 => good, 1 => bad, 1 => any_json()].boxed()
}

fn good_int(range: std::ops::RangeInclusive<i64>) -> BoxedStrategy<Value> {
    noisy(
        prop_oneof![
            range.clone().prop_map(Value::from),
            range.prop_map(|i| Value::from(i.to_string())),
        ],
        int_like(),
    )
}

fn good_text() -> BoxedStrategy<Value> {
    noisy("[a-z0-9_:]{1,10}".prop_map(Value::from), text())
}

fn good_ip_item() -> BoxedStrategy<Value> {
    noisy(
        (0i64..3, any::<u8>(), any::<u8>(), prop::bool::ANY).prop_map(|(c, a, b, s)| {
            let ip = format!("10.0.{a}.{b}");
            json!({"bk_cloud_id": c, "ip": if s { format!(" {ip} ") } else { ip }})
        }),
        object_of(vec![
            ("bk_cloud_id", 0.9, int_like().boxed()),
            ("ip", 0.9, ip_like().boxed()),
        ]),
    )
}

fn good_b64() -> BoxedStrategy<Value> {
    noisy(
        prop::sample::select(&["ZWNobyAkMQ==", "aGVsbG8", "ZWNo\nbyAk", "-_8="][..])
            .prop_map(Value::from),
        text(),
    )
}

fn good_url() -> BoxedStrategy<Value> {
    noisy(
        prop::sample::select(&["", "http://cb.example.com/x", "https://h:8443/p?q=1"][..])
            .prop_map(Value::from),
        text(),
    )
}

/// An object whose fields are each present with the given probability.
fn object_of(fields: Vec<(&'static str, f64, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let parts: Vec<_> = fields
        .into_iter()
        .map(|(k, p, s)| prop::option::weighted(p, s).prop_map(move |v| (k, v)))
        .collect();
    parts
        .prop_map(|kv| {
            let mut m = Map::new();
            for (k, v) in kv {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            Value::Object(m)
        })
        .boxed()
}

fn list_of(s: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    mostly(prop::collection::vec(s, 0..4).prop_map(Value::Array))
}

fn topo_node() -> BoxedStrategy<Value> {
    object_of(vec![
        ("id", 0.95, good_int(1..=9999)),
        ("node_type", 0.95, good_text()),
    ])
}

fn nested_secret() -> BoxedStrategy<Value> {
    Just(json!(format!("{MARK}-nested"))).boxed()
}

/// Legacy and v3 host shapes, with stray credential and legacy keys.
fn server() -> BoxedStrategy<Value> {
    object_of(vec![
        ("ip_list", 0.8, list_of(good_ip_item())),
        ("dynamic_group_id_list", 0.3, list_of(good_text())),
        (
            "dynamic_group_list",
            0.3,
            list_of(object_of(vec![("id", 0.95, good_text())])),
        ),
        ("topo_node_list", 0.3, list_of(topo_node())),
        ("host_id_list", 0.3, list_of(good_int(1..=999))),
        ("bk_token", 0.1, nested_secret()),
    ])
}

fn global_var() -> BoxedStrategy<Value> {
    object_of(vec![
        ("id", 0.8, good_int(-1..=999)),
        ("name", 0.5, good_text()),
        ("value", 0.5, good_text()),
        ("ip_list", 0.3, list_of(good_ip_item())),
        ("custom_query_id", 0.3, list_of(good_text())),
        ("target_server", 0.3, mostly(server())),
        ("server", 0.3, mostly(server())),
        ("bk_app_secret", 0.1, nested_secret()),
    ])
}

fn file_source() -> BoxedStrategy<Value> {
    object_of(vec![
        ("files", 0.9, list_of(good_text())),
        ("file_list", 0.3, list_of(good_text())),
        ("account", 0.9, good_text()),
        ("ip_list", 0.6, list_of(good_ip_item())),
        ("custom_query_id", 0.3, list_of(good_text())),
        ("target_server", 0.3, mostly(server())),
        ("server", 0.3, mostly(server())),
    ])
}

/// One "kitchen sink" body near every route's shape; unknown fields are ignored, so the
/// same body exercises every translator.
fn near_valid() -> BoxedStrategy<Value> {
    let a = object_of(vec![
        ("bk_biz_id", 0.95, good_int(1..=10_000_001)),
        ("bk_scope_type", 0.1, good_text()),
        ("bk_scope_id", 0.1, good_int(1..=99)),
        ("bk_job_id", 0.9, good_int(1..=999)),
        ("job_plan_id", 0.9, good_int(1..=999)),
        ("job_instance_id", 0.9, good_int(1..=999)),
        ("steps", 0.3, list_of(any_json().boxed())),
        ("global_vars", 0.6, list_of(global_var())),
        ("global_var_list", 0.6, list_of(global_var())),
        ("bk_callback_url", 0.3, good_url()),
        ("callback_url", 0.3, good_url()),
    ]);
    let b = object_of(vec![
        ("script_id", 0.5, good_int(1..=999)),
        ("script_version_id", 0.5, good_int(1..=999)),
        ("script_content", 0.6, good_b64()),
        ("script_type", 0.8, good_int(1..=5)),
        ("script_language", 0.8, good_int(1..=5)),
        ("script_param", 0.4, good_b64()),
        ("script_timeout", 0.4, good_int(1..=259_200)),
        ("timeout", 0.4, good_int(1..=259_200)),
        ("account", 0.9, good_text()),
        ("account_alias", 0.5, good_text()),
        ("is_param_sensitive", 0.4, good_int(0..=1)),
        ("task_name", 0.4, mostly(text())),
    ]);
    let c = object_of(vec![
        ("ip_list", 0.7, list_of(good_ip_item())),
        ("custom_query_id", 0.3, list_of(good_text())),
        ("target_server", 0.5, mostly(server())),
        ("file_source", 0.7, list_of(file_source())),
        ("file_source_list", 0.3, list_of(file_source())),
        ("file_target_path", 0.8, good_text()),
        (
            "return_ip_result",
            0.3,
            mostly(any::<bool>().prop_map(Value::from)),
        ),
    ]);
    (a, b, c)
        .prop_map(|(a, b, c)| {
            let mut m = Map::new();
            for part in [a, b, c] {
                if let Value::Object(p) = part {
                    m.extend(p);
                }
            }
            Value::Object(m)
        })
        .boxed()
}

/// Credentials with marked values, under a random subset of the accepted keys.
fn credentials() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    prop::sample::subsequence(CREDENTIAL_KEYS.to_vec(), 0..=CREDENTIAL_KEYS.len()).prop_map(
        |keys| {
            keys.into_iter()
                .enumerate()
                .map(|(i, k)| (k, format!("{MARK}-{i}")))
                .collect()
        },
    )
}

// ---------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------

fn forbidden_key(k: &str) -> bool {
    LEGACY_ONLY_KEYS.contains(&k) || CREDENTIAL_KEYS.contains(&k)
}

fn find_forbidden(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::Object(m) => m.iter().find_map(|(k, v)| {
            if forbidden_key(k) {
                Some(format!("{path}.{k}"))
            } else {
                find_forbidden(v, &format!("{path}.{k}"))
            }
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_forbidden(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

fn check(route: &Route, body: Map<String, Value>, steps: StepsPolicy) -> Result<(), TestCaseError> {
    let result = translate_request(route, body, &options(steps));
    match result {
        Ok(Translated { request, .. }) => {
            if let Some(b) = &request.body.as_ref().map(JsonBody::to_value) {
                prop_assert!(b.is_object(), "{route:?}: body is not an object: {b}");
                prop_assert!(
                    find_forbidden(b, "$").is_none(),
                    "{route:?}: {:?} in {b}",
                    find_forbidden(b, "$")
                );
                prop_assert!(
                    !b.to_string().contains(MARK),
                    "{route:?}: credential value leaked: {b}"
                );
            }
            for (k, v) in &request.query {
                prop_assert!(!forbidden_key(k), "{route:?}: query key {k}");
                prop_assert!(
                    !k.contains(MARK) && !v.contains(MARK),
                    "{route:?}: credential value in query"
                );
            }
            match request.method {
                Method::Get => prop_assert!(request.body.is_none(), "{route:?}: GET with a body"),
                Method::Post => prop_assert!(
                    request.body.is_some() && request.query.is_empty(),
                    "{route:?}: POST without a body or with a query"
                ),
            }
            for w in &request.warnings {
                prop_assert!(
                    w.chars().all(|c| c == ' ' || c.is_ascii_graphic()) && !w.contains(MARK),
                    "{route:?}: warning not header-safe: {w:?}"
                );
            }
        }
        Err(e) => {
            prop_assert!(!e.field.is_empty(), "{route:?}: error without a field: {e}");
            prop_assert!(!e.detail.is_empty(), "{route:?}: error without detail: {e}");
            prop_assert!(
                !e.message().contains(MARK),
                "{route:?}: credential value in error: {e}"
            );
        }
    }
    Ok(())
}

fn check_all_routes(
    mut body: Map<String, Value>,
    creds: &[(&'static str, String)],
) -> Result<(), TestCaseError> {
    for k in CREDENTIAL_KEYS {
        body.remove(k);
    }
    for (k, v) in creds {
        body.insert((*k).to_owned(), Value::String(v.clone()));
    }
    for route in routes() {
        for steps in [StepsPolicy::Reject, StepsPolicy::Ignore] {
            check(&route, body.clone(), steps)?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_objects_never_panic_and_never_leak(body in any_object(), creds in credentials()) {
        check_all_routes(body, &creds)?;
    }

    #[test]
    fn near_valid_bodies_never_panic_and_never_leak(body in near_valid(), creds in credentials()) {
        let Value::Object(map) = body else { unreachable!() };
        check_all_routes(map, &creds)?;
    }

    /// The callback allow-list and the job memory read `callback_url` and `job_plan_id`
    /// from the written body without parsing it: they must see what the tree holds.
    #[test]
    fn written_bodies_answer_top_level_fields_as_the_tree_does(v in tricky_json()) {
        let body = JsonBody::of_value(&v);
        for k in ["callback_url", "job_plan_id", "a", "a\"b", "{", ""] {
            prop_assert_eq!(body.field::<Value>(k), v.get(k).cloned(), "{} in {}", k, body);
        }
    }
}

/// JSON whose strings and keys carry quotes, backslashes and brackets, with the keys
/// the serving path looks up.
fn tricky_json() -> impl Strategy<Value = Value> {
    let text = "[a-z\"\\{}\\[\\],: ]{0,6}";
    let key = prop_oneof![
        2 => prop::sample::select(&["callback_url", "job_plan_id", "a", "a\"b", "{", ""][..])
            .prop_map(str::to_owned),
        1 => text,
    ];
    let leaf = prop_oneof![scalar(), text.prop_map(Value::from)];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The near-valid generator does produce accepted requests on the translating routes
/// (otherwise the leak checks above would only ever see errors).
#[test]
fn near_valid_generator_reaches_success() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = near_valid();
    let mut accepted = std::collections::BTreeMap::<&'static str, usize>::new();
    for _ in 0..3000 {
        let Value::Object(body) = strategy.new_tree(&mut runner).unwrap().current() else {
            continue;
        };
        for route in [
            Route::ExecuteJob,
            Route::FastExecuteScript,
            Route::FastPushFile,
            Route::GetJobInstanceStatus,
        ] {
            if translate_request(&route, body.clone(), &options(StepsPolicy::Ignore)).is_ok() {
                *accepted.entry(route.name()).or_default() += 1;
            }
        }
    }
    eprintln!("accepted out of 3000: {accepted:?}");
    for name in [
        "job/execute_job",
        "job/fast_execute_script",
        "job/fast_push_file",
        "job/get_job_instance_status",
    ] {
        assert!(
            accepted.get(name).copied().unwrap_or(0) > 0,
            "no accepted {name}: {accepted:?}"
        );
    }
}
