//! The scanner against serde's reading.

use super::super::fast::GlobalVars;
use super::*;
use crate::budget::parse_split;
use proptest::prelude::*;

/// What a split reads, comparable: the other members, the validated variables (or
/// `None` when the validator refuses them) and their shape.
type Read = (
    serde_json::Map<String, Value>,
    Option<Option<Vec<LegacyGlobalVarView>>>,
);
type LegacyGlobalVarView = super::super::model::LegacyGlobalVar;

fn read(split: Option<Split<GlobalVars<'_>>>) -> Option<(Read, Option<budget::Shape>)> {
    split.map(|s| {
        let shape = s.typed.as_ref().map(Shaped::shape);
        ((s.rest, s.typed.map(GlobalVars::into_legacy)), shape)
    })
}

fn scanned(body: &str, b: &Budget) -> Option<(Read, Option<budget::Shape>)> {
    read(split(body.as_bytes(), b, "global_vars", |s| {
        s.global_vars().map(GlobalVars)
    }))
}

fn serde(body: &str, b: &Budget) -> Option<(Read, Option<budget::Shape>)> {
    read(parse_split::<GlobalVars<'_>>(
        body.as_bytes(),
        b,
        "global_vars",
    ))
}

const SEED: &str = r#"{"bk_app_code":"esb_test","bk_app_secret":"xxx","bk_biz_id":2,"bk_job_id":100,"global_vars":[{"id":436,"custom_query_id":["3","5"],"ip_list":[{"bk_cloud_id":0,"ip":"10.0.0.1"},{"bk_cloud_id":0,"ip":"10.0.0.2"}]},{"id":437,"value":"new String value"}]}"#;

#[test]
fn the_plain_form_is_scanned_and_read_as_serde_reads_it() {
    let b = Budget::default();
    let got = scanned(SEED, &b);
    assert!(got.is_some());
    assert_eq!(got, serde(SEED, &b));
    let spaced = " {\n \"global_vars\" : [ { \"ip_list\" : [ { \"ip\" : \"10.0.0.1\" , \"bk_cloud_id\" : 1 } ] , \"id\" : 1 } ] , \"steps\" : [ {\"a\" : \"]}\\\"\"} ] } ";
    assert!(scanned(spaced, &b).is_some());
    assert_eq!(scanned(spaced, &b), serde(spaced, &b));
}

#[test]
fn other_forms_are_left_to_serde() {
    let b = Budget::default();
    for body in [
        r#"{"global_vars":null}"#,
        r#"{"global_vars":[[1,null,null,null,null]]}"#,
        r#"{"global_vars":[{"id":1}],"global_vars":[]}"#,
        r#"{"global_vars":[{"id":1,"id":2}]}"#,
        r#"{"global_vars":[{"id":1,"other":2}]}"#,
        r#"{"global_vars":[{"id":-0}]}"#,
        r#"{"global_vars":[{"id":1.0}]}"#,
        r#"{"global_vars":[{"id":"1"}]}"#,
        r#"{"global_vars":[{"i\u0064":1}]}"#,
        r#"{"global_vars":[{"id":1,"ip_list":[{"bk_cloud_id":0,"ip":"10.0.0.\u0031"}]}]}"#,
        r#"{"global_vars":[{"id":1}],}"#,
        r#"{"global_vars":[{"id":1},]}"#,
        r#"{"global_vars":[{"id":1}]} x"#,
        r#"{"glob\u0061l_vars":[{"id":1}]}"#,
        "{\"global_vars\":[{\"id\":1,\"name\":\"a\tb\"}]}",
        r#"{"a":,"global_vars":[]}"#,
        r#"[{"global_vars":[]}]"#,
    ] {
        assert_eq!(scanned(body, &b), None, "{body}");
    }
}

#[test]
fn long_text_is_scanned_past_its_first_bytes() {
    let b = Budget::default();
    let long = "x".repeat(40);
    let plain = format!(r#"{{"global_vars":[{{"id":1,"name":"{long}"}}]}}"#);
    assert!(scanned(&plain, &b).is_some());
    assert_eq!(scanned(&plain, &b), serde(&plain, &b));
    for bad in [format!("{long}\t"), format!("{long}\u{1}y"), long.clone()] {
        let body = format!("{{\"global_vars\":[{{\"id\":1,\"name\":\"{bad}");
        let body = if bad == long {
            body
        } else {
            format!("{body}\"}}]}}")
        };
        assert_eq!(scanned(&body, &b), None, "{body:?}");
    }
}

#[test]
fn escaped_text_is_decoded_as_serde_decodes_it() {
    let b = Budget::default();
    let body = r#"{"global_vars":[{"id":1,"name":"a\"\u00e9\\","value":"\n","custom_query_id":["\u0033"]}]}"#;
    assert!(scanned(body, &b).is_some());
    assert_eq!(scanned(body, &b), serde(body, &b));
}

fn ws() -> impl Strategy<Value = &'static str> {
    prop_oneof![6 => Just(""), 1 => Just(" "), 1 => Just("\n\t"), 1 => Just("\r ")]
}

fn int() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (-5i64..1000).prop_map(|i| i.to_string()),
        1 => prop::sample::select(vec!["-0", "01", "1.0", "1e2", "\"1\"", "null", "9223372036854775808", "-"]).prop_map(str::to_owned),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z0-9 :]{0,6}".prop_map(|t| format!("\"{t}\"")),
        1 => prop::sample::select(vec![r#""a\"b""#, r#""\u00e9""#, "\"\u{e9}\"", "\"a\tb\"", r#""\x""#, "null", "5", "[]"]).prop_map(str::to_owned),
    ]
}

fn host() -> impl Strategy<Value = String> {
    let ip = prop_oneof![
        6 => any::<[u8; 4]>().prop_map(|o| format!("\"{}.{}.{}.{}\"", o[0], o[1], o[2], o[3])),
        1 => prop::sample::select(vec!["\" 1.2.3.4 \"", "\"01.2.3.4\"", "\"1.2.3.256\"", r#""1.2.3.\u0034""#, "\"                1.2.3.4\"", "null", "1"]).prop_map(str::to_owned),
    ];
    (
        ws(),
        int(),
        ip,
        any::<bool>(),
        prop::sample::select(vec!["", "\"bk_host_id\":1,", "\"ip\":\"1.1.1.1\","]),
    )
        .prop_map(|(w, c, ip, flip, extra)| {
            let (c, ip) = (format!("\"bk_cloud_id\"{w}:{c}"), format!("\"ip\":{w}{ip}"));
            let (a, b) = if flip { (ip, c) } else { (c, ip) };
            format!("{{{w}{extra}{a}{w},{w}{b}}}")
        })
}

fn list(item: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (ws(), prop::collection::vec(item, 0..4)).prop_map(|(w, items)| format!("[{w}{}]", items.join(&format!("{w},")))),
        1 => Just("null".to_owned()),
        1 => Just("{}".to_owned()),
    ]
}

fn var() -> impl Strategy<Value = String> {
    let members = prop::collection::vec(
        prop_oneof![
            Just(("id", int().boxed())),
            Just(("name", text().boxed())),
            Just(("value", text().boxed())),
            Just(("ip_list", list(host()).boxed())),
            Just(("custom_query_id", list(text()).boxed())),
            Just(("bk_host_id", int().boxed())),
        ]
        .prop_flat_map(|(k, v)| (Just(k), v)),
        0..5,
    );
    prop_oneof![
        12 => (ws(), members).prop_map(|(w, m)| {
            let m: Vec<String> = m.into_iter().map(|(k, v)| format!("\"{k}\"{w}:{w}{v}")).collect();
            format!("{{{w}{}{w}}}", m.join(","))
        }),
        1 => Just("[1,null,null,null,null]".to_owned()),
        1 => Just("null".to_owned()),
    ]
}

fn body() -> impl Strategy<Value = String> {
    let rest = prop::sample::select(vec![
        "",
        r#""bk_biz_id":2,"#,
        r#""steps":[{"a":"]}\"",  "b":[1,{}]}],"#,
        r#""bk_app_code":"x\u0041","bk_app_code":"y","#,
        r#""nested":{"a":[[[[1]]]]},"#,
        r#""bad":tru,"#,
    ]);
    (ws(), rest, list(var()), any::<bool>()).prop_map(|(w, r, vars, absent)| {
        let vars = if absent {
            String::new()
        } else {
            format!("\"global_vars\"{w}:{w}{vars}")
        };
        format!("{w}{{{r}{vars}}}{w}").replace(",}", "}")
    })
}

fn budget() -> impl Strategy<Value = Budget> {
    prop_oneof![
        4 => Just(Budget::default()),
        1 => (2usize..6, 1usize..5, 1usize..16, 5usize..40).prop_map(|(d, a, s, v)| Budget {
            max_depth: d,
            max_array_len: a,
            max_string_bytes: s,
            max_values: v,
        }),
    ]
}

#[test]
fn the_generated_bodies_exercise_both_readings() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut scan, mut serde_only) = (0, 0);
    for _ in 0..512 {
        let Ok(tree) = body().new_tree(&mut runner) else {
            continue;
        };
        let body = tree.current();
        let b = Budget::default();
        match (scanned(&body, &b), serde(&body, &b)) {
            (Some(_), _) => scan += 1,
            (None, Some(_)) => serde_only += 1,
            (None, None) => {}
        }
    }
    assert!(
        scan > 100 && serde_only > 10,
        "{scan} scanned, {serde_only} by serde only"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// Whatever the scanner reads, serde reads the same, under the same budget.
    #[test]
    fn what_is_scanned_reads_as_serde_reads_it(body in body(), b in budget()) {
        if let Some(got) = scanned(&body, &b) {
            prop_assert_eq!(Some(got), serde(&body, &b), "{}", body);
        }
    }
}
