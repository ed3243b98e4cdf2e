//! Generators of JSON near a model's plain form (proptest), and what a tree needs of the
//! JSON budget: shared by the tests of the fast readings.
#![allow(dead_code)]

use bk_job_shim::budget;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// An object of one member.
pub(crate) fn one(key: &str, v: Value) -> Map<String, Value> {
    std::iter::once((key.to_owned(), v)).collect()
}

/// `{key: v}` or, three times in ten, `{}`.
pub(crate) fn maybe(
    key: &'static str,
    v: impl Strategy<Value = Value>,
) -> impl Strategy<Value = Map<String, Value>> {
    proptest::option::weighted(0.7, v).prop_map(move |v| {
        let mut m = Map::new();
        if let Some(v) = v {
            m.insert(key.to_owned(), v);
        }
        m
    })
}

/// A string, mostly short, sometimes blank, escaped, or not a string.
pub(crate) fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => "[a-z_]{0,8}".prop_map(Value::from),
        2 => Just(json!("  ")),
        2 => Just(json!("q\"\\\t\u{e9}")),
        2 => Just(Value::Null),
        1 => Just(json!(7)),
        1 => Just(json!(true)),
    ]
}

/// An integer, mostly positive, sometimes not an integer.
pub(crate) fn int() -> impl Strategy<Value = Value> {
    prop_oneof![
        16 => (1i64..1_000).prop_map(Value::from),
        4 => (-2i64..=0).prop_map(Value::from),
        2 => Just(Value::Null),
        1 => Just(json!("12")),
        1 => Just(json!(3.0)),
        1 => Just(json!(2.5)),
        1 => Just(json!(u64::MAX)),
    ]
}

/// `base` with one limit (`limit` 0–3: values, depth, array length, string length) set just
/// below what the tree `v` needs of it, so that the general reading refuses `v`.
pub(crate) fn just_below(v: &Value, base: budget::Budget, limit: usize) -> budget::Budget {
    let need = shape(v, 0);
    let mut budget = base;
    match limit {
        0 => budget.max_values = need.values - 1,
        1 => budget.max_depth = need.depth - 1,
        2 => budget.max_array_len = need.array_len.max(1) - 1,
        _ => budget.max_string_bytes = need.string_bytes.max(1) - 1,
    }
    budget
}

/// What a tree needs of the budget (as `budget::parse` counts it).
pub(crate) fn shape(v: &Value, depth: usize) -> budget::Shape {
    let mut s = budget::Shape {
        values: 1,
        depth,
        ..budget::Shape::default()
    };
    let mut add = |c: budget::Shape| {
        s.values += c.values;
        s.depth = s.depth.max(c.depth);
        s.array_len = s.array_len.max(c.array_len);
        s.string_bytes = s.string_bytes.max(c.string_bytes);
    };
    match v {
        Value::Array(a) => {
            add(budget::Shape {
                array_len: a.len(),
                depth: depth + 1,
                ..Default::default()
            });
            a.iter().for_each(|x| add(shape(x, depth + 1)));
        }
        Value::Object(m) => {
            add(budget::Shape {
                array_len: m.len(),
                depth: depth + 1,
                ..Default::default()
            });
            for (k, x) in m {
                add(budget::Shape {
                    string_bytes: k.len(),
                    ..Default::default()
                });
                add(shape(x, depth + 1));
            }
        }
        Value::String(t) => s.string_bytes = t.len(),
        _ => {}
    }
    s
}
