#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The fast reading of an `execute_job` or `fast_execute_script` body (`translate::fast`)
//! against the general one (the budgeted tree, then `translate_request`):
//! * whenever the fast reading applies, the translation is the same: request, warnings,
//!   credentials, dropped steps, or the same refusal;
//! * it applies to the plain bodies legacy apps send, and gives up on the forms it does
//!   not model (which the general reading then accepts or refuses);
//! * it never lets through a body that passes a limit of the JSON budget.

use bk_job_shim::budget::{self, Budget};
use bk_job_shim::translate::fast::{FAST_MAX_BYTES, execute_job_params, params};
use bk_job_shim::translate::{
    Credentials, Options, Route, StepsPolicy, TranslateError, UpstreamRequest, translate_request,
    translate_typed,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Map, Value, json};

#[path = "support/json_gen.rs"]
mod json_gen;
use json_gen::{int, just_below, maybe, one, text};

type Outcome = Result<(UpstreamRequest, Credentials, usize), TranslateError>;

fn options(steps: StepsPolicy) -> Options {
    Options {
        steps,
        ..Options::default()
    }
}

/// The general reading of an `execute_job` body: the whole tree, then the translator.
fn general(bytes: &[u8], opts: &Options) -> Option<Outcome> {
    general_at(&Route::ExecuteJob, bytes, opts)
}

fn general_at(route: &Route, bytes: &[u8], opts: &Options) -> Option<Outcome> {
    let Ok(Value::Object(map)) = budget::parse(bytes, &Budget::default()) else {
        return None;
    };
    Some(outcome(translate_request(route, map, opts)))
}

/// The fast reading of an `execute_job` body, when it applies.
fn fast(bytes: &[u8], opts: &Options) -> Option<Outcome> {
    fast_at(&Route::ExecuteJob, bytes, opts)
}

fn fast_at(route: &Route, bytes: &[u8], opts: &Options) -> Option<Outcome> {
    let (params, typed) = params(route, bytes, &Budget::default())?;
    Some(outcome(translate_typed(route, params, typed, opts)))
}

fn outcome(r: Result<bk_job_shim::translate::Translated, TranslateError>) -> Outcome {
    r.map(|t| (t.request, t.credentials, t.steps_dropped))
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// The seed document's body, with a host list per variable.
fn seed() -> Value {
    json!({
        "bk_app_code": "esb_test", "bk_app_secret": "xxx", "bk_token": "xxx",
        "bk_biz_id": 2, "bk_job_id": 100, "bk_callback_url": "http://cb.example/x",
        "global_vars": [
            {"id": 436, "custom_query_id": ["3", "2:5"],
             "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}, {"bk_cloud_id": 0, "ip": "10.0.0.2"}]},
            {"id": 437, "value": "new String value"},
            {"name": "by_name", "value": "v \"quoted\" \u{e9}\n"}
        ]
    })
}

#[test]
fn plain_bodies_are_read_fast_and_translate_the_same() {
    let opts = options(StepsPolicy::Reject);
    let b = bytes(&seed());
    let f = fast(&b, &opts).expect("the seed body is read fast");
    assert_eq!(Some(&f), general(&b, &opts).as_ref());
    let (req, creds, _) = f.expect("the seed body translates");
    assert_eq!(req.resource, "execute_job_plan");
    assert_eq!(creds.app_code.as_deref(), Some("esb_test"));
    // Without `global_vars`, or with `null`, the body is read fast too.
    for gv in [None, Some(Value::Null), Some(json!([]))] {
        let mut v = seed();
        match gv {
            Some(g) => v["global_vars"] = g,
            None => drop(v.as_object_mut().unwrap().remove("global_vars")),
        }
        let b = bytes(&v);
        assert_eq!(fast(&b, &opts), general(&b, &opts), "{v}");
        assert!(fast(&b, &opts).is_some(), "{v}");
    }
}

#[test]
fn other_forms_are_left_to_the_general_reading() {
    let opts = options(StepsPolicy::Reject);
    let vars = [
        json!({"id": "436", "value": "x"}),
        json!({"id": 1, "target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}}),
        json!({"id": 1, "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1", "bk_host_id": 3}]}),
        json!({"id": 1, "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.256"}]}),
        // An item as an array: a derived struct would read it as its fields in order.
        json!({"id": 1, "ip_list": [[0, "10.0.0.1"]]}),
        // Escapes, and padding past the longest address, are left to the general reading.
        json!({"id": 1, "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1\n"}]}),
        json!({"id": 1, "ip_list": [{"bk_cloud_id": 0, "ip": "   10.0.0.1     "}]}),
        json!({"id": 0, "value": "x"}),
        json!({"value": "x"}),
        json!({"id": 1, "custom_query_id": [" "]}),
        json!({"id": 1, "name": 5}),
        json!("x"),
    ];
    for var in vars {
        let v = json!({"bk_biz_id": 2, "bk_job_id": 100, "global_vars": [var]});
        let b = bytes(&v);
        assert_eq!(fast(&b, &opts), None, "{v}");
        assert!(general(&b, &opts).is_some(), "{v}");
    }
    // A host written as an array is refused (the derived model once read it as a host).
    let v = json!({"bk_biz_id": 2, "bk_job_id": 100,
                   "global_vars": [{"id": 1, "ip_list": [[0, "10.0.0.1"]]}]});
    assert!(matches!(general(&bytes(&v), &opts), Some(Err(_))), "{v}");
    let dup = br#"{"bk_biz_id":2,"bk_job_id":1,"global_vars":[{"id":1}],"global_vars":null}"#;
    assert_eq!(fast(dup, &opts), None, "a key named twice");
    assert_eq!(fast(b"[1]", &opts), None);
    assert_eq!(fast(b"{", &opts), None);
}

#[test]
fn a_body_over_the_size_bound_is_left_to_the_general_reading() {
    let opts = options(StepsPolicy::Reject);
    let body = |value: &str| {
        let vars = vec![json!({"id": 1, "value": value}); 100];
        bytes(&json!({"bk_biz_id": 2, "bk_job_id": 1, "global_vars": vars}))
    };
    let large = body(&"x".repeat(FAST_MAX_BYTES / 100));
    assert!(large.len() > FAST_MAX_BYTES);
    assert_eq!(fast(&large, &opts), None);
    assert!(general(&large, &opts).is_some_and(|r| r.is_ok()));
    assert!(fast(&body("x"), &opts).is_some());
    let ips = vec![json!({"bk_cloud_id": 0, "ip": "10.0.0.1"}); FAST_MAX_BYTES / 30];
    let script = json!({"bk_biz_id": 2, "script_id": 1, "account": "root", "ip_list": ips});
    assert!(bytes(&script).len() > FAST_MAX_BYTES);
    assert_eq!(
        fast_at(&Route::FastExecuteScript, &bytes(&script), &opts),
        None
    );
}

#[test]
fn a_list_stops_at_10000_items_as_it_is_read() {
    // Even where a budget would allow more: past 10,000 items the general reading decides.
    let wide = Budget {
        max_array_len: 20_000,
        ..Budget::default()
    };
    let body = |n: usize| {
        let vars = vec![json!({"id": 1}); n];
        bytes(&json!({"bk_biz_id": 2, "bk_job_id": 1, "global_vars": vars}))
    };
    assert!(execute_job_params(&body(10_000), &wide).is_some());
    assert!(execute_job_params(&body(10_001), &wide).is_none());
    assert!(budget::parse(&body(10_001), &wide).is_ok());
    // A nested list too (a host list of 10,001 items is over the size bound already).
    let ids = vec![json!("1"); 10_001];
    let nested = json!({"bk_biz_id": 2, "bk_job_id": 1,
                        "global_vars": [{"id": 1, "custom_query_id": ids}]});
    assert!(execute_job_params(&bytes(&nested), &wide).is_none());
    assert!(budget::parse(&bytes(&nested), &wide).is_ok());
}

#[test]
fn a_body_over_the_budget_is_never_read_fast() {
    let host = |i: usize| json!({"bk_cloud_id": 0, "ip": format!("10.0.0.{}", i % 250 + 1)});
    let ips: Vec<Value> = (0..12).map(host).collect();
    let v = json!({"bk_biz_id": 2, "bk_job_id": 1, "global_vars": [{"id": 1, "ip_list": ips}]});
    let b = bytes(&v);
    let tight = [
        Budget {
            max_array_len: 11,
            ..Budget::default()
        },
        Budget {
            max_depth: 4,
            ..Budget::default()
        },
        Budget {
            max_values: 30,
            ..Budget::default()
        },
        Budget {
            max_string_bytes: 8,
            ..Budget::default()
        },
    ];
    for budget in tight {
        assert!(budget::parse(&b, &budget).is_err(), "{budget:?}");
        assert!(execute_job_params(&b, &budget).is_none(), "{budget:?}");
    }
    assert!(execute_job_params(&b, &Budget::default()).is_some());
}

// ---------------------------------------------------------------------------------------
// Generated bodies: near the plain form, with the forms the fast reading leaves alone
// ---------------------------------------------------------------------------------------

/// A valid id, mostly: the translation then reaches `global_vars`.
fn mostly_valid(other: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop_oneof![8 => (1i64..1_000).prop_map(Value::from), 1 => other]
}

fn ip() -> impl Strategy<Value = Value> {
    let addr = prop_oneof![
        24 => (0u8..=255).prop_map(|o| json!(format!("10.0.1.{o}"))),
        1 => Just(json!(" 10.0.0.9\t")),
        1 => Just(json!("10.0.0.256")),
        1 => Just(json!(1)),
    ];
    let cloud = prop_oneof![24 => (0i64..3).prop_map(Value::from), 1 => Just(json!(-1)), 1 => Just(json!("0")), 1 => Just(Value::Null)];
    prop_oneof![
        48 => (cloud, addr).prop_map(|(c, a)| json!({"bk_cloud_id": c, "ip": a})),
        1 => Just(json!({"ip": "10.0.0.1"})),
        1 => Just(json!({"bk_cloud_id": 0, "ip": "10.0.0.1", "bk_host_id": 1})),
        1 => Just(Value::Null),
    ]
}

fn group_ids() -> impl Strategy<Value = Value> {
    let id = prop_oneof![
        16 => "[0-9]{1,3}(:[0-9]{1,3})?:?".prop_map(Value::from),
        1 => Just(json!(" ")),
        1 => Just(json!(5)),
    ];
    prop_oneof![16 => proptest::collection::vec(id, 0..4).prop_map(Value::from), 1 => Just(Value::Null), 1 => Just(json!("3"))]
}

/// A `global_vars[]` item: mostly a valid plain one, else anything near it.
fn global_var() -> impl Strategy<Value = Value> {
    prop_oneof![6 => plain_var(), 2 => wild_var(), 1 => Just(Value::Null), 1 => Just(json!(3))]
}

/// Valid, in the plain form: read fast.
fn plain_var() -> impl Strategy<Value = Value> {
    let ip = (0i64..3, 0u8..=255, any::<bool>()).prop_map(|(c, o, pad)| {
        let ip = if pad {
            format!(" 10.0.2.{o}\t")
        } else {
            format!("10.0.2.{o}")
        };
        json!({"bk_cloud_id": c, "ip": ip})
    });
    let ids = proptest::collection::vec("[0-9]{1,3}(:[0-9]{1,3})?:?", 0..3);
    (
        proptest::option::of(1i64..1_000),
        proptest::option::of("[a-z_]{1,6}"),
        maybe("value", text()),
        maybe(
            "ip_list",
            proptest::collection::vec(ip, 0..4).prop_map(Value::from),
        ),
        maybe("custom_query_id", ids.prop_map(Value::from)),
    )
        .prop_map(|(id, name, value, ips, ids)| {
            let mut m = Map::new();
            m.insert("id".into(), json!(id.or(name.is_none().then_some(1))));
            if let Some(name) = name {
                m.insert("name".into(), json!(name));
            }
            m.extend(value.into_iter().chain(ips).chain(ids));
            Value::Object(m)
        })
}

/// Any field near the plain form, valid or not.
fn wild_var() -> impl Strategy<Value = Value> {
    let ips = prop_oneof![
        24 => proptest::collection::vec(ip(), 0..5).prop_map(Value::from),
        1 => Just(Value::Null),
        1 => Just(json!({})),
    ];
    let other = prop_oneof![
        24 => Just(Map::new()),
        1 => Just(json!({"target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}}).as_object().cloned().unwrap()),
        1 => Just(json!({"description": "x"}).as_object().cloned().unwrap()),
    ];
    (
        maybe("id", int()),
        maybe("name", text()),
        maybe("value", text()),
        maybe("ip_list", ips),
        maybe("custom_query_id", group_ids()),
        other,
    )
        .prop_map(|(a, b, c, d, e, f)| {
            let mut m = a;
            m.extend(b.into_iter().chain(c).chain(d).chain(e).chain(f));
            Value::Object(m)
        })
}

fn body() -> impl Strategy<Value = Value> {
    let vars = prop_oneof![
        24 => proptest::collection::vec(global_var(), 0..4).prop_map(Value::from),
        1 => Just(Value::Null),
        1 => Just(json!({"id": 1})),
    ];
    (
        maybe("global_vars", vars),
        mostly_valid(int()).prop_map(|v| one("bk_biz_id", v)),
        mostly_valid(int()).prop_map(|v| one("bk_job_id", v)),
        maybe("bk_app_code", text()),
        maybe("bk_username", text()),
        maybe(
            "steps",
            prop_oneof![4 => Just(json!([])), 1 => Just(json!([{"step_id": 1}]))],
        ),
        maybe(
            "bk_callback_url",
            prop_oneof![4 => Just(json!("http://cb.example/x")), 1 => Just(json!("ftp://x"))],
        ),
    )
        .prop_map(|(a, b, c, d, e, f, g)| {
            let mut m = a;
            for part in [b, c, d, e, f, g] {
                m.extend(part);
            }
            Value::Object(m)
        })
}

/// A `fast_execute_script` body: mostly valid, its hosts in `ip_list` (plain, or near it),
/// sometimes with `target_server` or `custom_query_id` beside them.
fn script_body() -> impl Strategy<Value = Value> {
    let plain_ip = (0i64..3, 0u8..=255)
        .prop_map(|(c, o)| json!({"bk_cloud_id": c, "ip": format!("10.0.3.{o}")}));
    let ips = prop_oneof![
        6 => proptest::collection::vec(plain_ip, 0..6).prop_map(Value::from),
        2 => proptest::collection::vec(ip(), 0..4).prop_map(Value::from),
        1 => Just(Value::Null),
        1 => Just(json!("10.0.0.1")),
    ];
    (
        maybe("ip_list", ips),
        mostly_valid(int()).prop_map(|v| one("bk_biz_id", v)),
        maybe(
            "target_server",
            Just(json!({"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]})),
        ),
        maybe("custom_query_id", group_ids()),
        maybe(
            "script_param",
            prop_oneof![Just(json!("aGVsbG8=")), Just(json!("%%"))],
        ),
        maybe("account", text()),
    )
        .prop_map(|(a, b, c, d, e, f)| {
            let mut m = a;
            m.extend(b.into_iter().chain(c).chain(d).chain(e).chain(f));
            m.insert("script_content".into(), json!("ZWNobyAx"));
            m.insert("script_type".into(), json!(1));
            m.entry("account").or_insert(json!("root"));
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn a_script_read_fast_translates_as_from_its_tree(v in script_body()) {
        let opts = options(StepsPolicy::Reject);
        let b = bytes(&v);
        if let Some(f) = fast_at(&Route::FastExecuteScript, &b, &opts) {
            prop_assert_eq!(Some(f), general_at(&Route::FastExecuteScript, &b, &opts), "{}", v);
        }
    }

    #[test]
    fn the_fast_reading_translates_as_the_general_one(v in body(), ignore in any::<bool>()) {
        let opts = options(if ignore { StepsPolicy::Ignore } else { StepsPolicy::Reject });
        let b = bytes(&v);
        if let Some(f) = fast(&b, &opts) {
            prop_assert_eq!(Some(f), general(&b, &opts), "{}", v);
        }
    }

    #[test]
    fn the_fast_reading_keeps_the_budget(
        (route, v) in prop_oneof![
            body().prop_map(|v| (Route::ExecuteJob, v)),
            script_body().prop_map(|v| (Route::FastExecuteScript, v)),
        ],
        limit in 0usize..4,
    ) {
        // Each limit set just below what the body needs: the general reading refuses it,
        // so the fast one must give up.
        let budget = just_below(&v, Budget::default(), limit);
        let b = bytes(&v);
        prop_assert!(budget::parse(&b, &budget).is_err(), "{} under {:?}", v, budget);
        prop_assert!(params(&route, &b, &budget).is_none(), "{} under {:?}", v, budget);
    }
}

#[test]
fn the_generated_bodies_exercise_both_readings() {
    let n = 1_000;
    let cases = [
        (body().boxed(), Route::ExecuteJob, "global_vars", n / 20),
        (
            script_body().boxed(),
            Route::FastExecuteScript,
            "ip_list",
            n / 10,
        ),
    ];
    for (strategy, route, list, least) in cases {
        let (read_fast, with_list) = coverage(strategy, &route, list, n);
        let what = route.name();
        assert!(
            (n / 4..n * 9 / 10).contains(&read_fast),
            "{what}: {read_fast} of {n} read fast"
        );
        assert!(
            with_list >= least,
            "{what}: {with_list} of {n} translated {list} read fast"
        );
    }
}

/// Of `n` generated bodies: how many the fast reading took, and how many of those
/// translated with a non-empty `list`.
fn coverage(
    strategy: impl Strategy<Value = Value>,
    route: &Route,
    list: &str,
    n: usize,
) -> (usize, usize) {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let opts = options(StepsPolicy::Reject);
    let (mut read_fast, mut with_list) = (0, 0);
    for _ in 0..n {
        let v = strategy.new_tree(&mut runner).unwrap().current();
        let Some(f) = fast_at(route, &bytes(&v), &opts) else {
            continue;
        };
        read_fast += 1;
        let listed = v[list].as_array().is_some_and(|a| !a.is_empty());
        with_list += usize::from(listed && f.is_ok());
    }
    (read_fast, with_list)
}
