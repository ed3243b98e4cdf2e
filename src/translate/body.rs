//! [`JsonBody`]: a v3 request body as JSON text, written once from the typed model that
//! produced it (no intermediate `Value` tree on the request path) and sent as it is.
//!
//! The few facts the serving path reads back from a body (`callback_url` for the
//! callback allow-list, `job_plan_id` for the job memory) are found by a scan of the top
//! level of the text that skips nested values without decoding them.

use super::write::WriteJson;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON request body, always the output of `serde_json`'s serializer or of a
/// `WriteJson` writer (which writes the same bytes).
#[derive(Debug, Clone)]
pub struct JsonBody(String);

/// The buffer a body is written into, at first: an `execute_job` body with a few dozen
/// hosts fits without growing it.
const ENCODE_CAPACITY: usize = 2048;

impl JsonBody {
    /// Serialize `model` (fails only for a model serde cannot write as JSON, e.g. a map
    /// with non-string keys).
    pub fn encode(model: &impl Serialize) -> Result<Self, serde_json::Error> {
        let mut buf = Vec::with_capacity(ENCODE_CAPACITY);
        serde_json::to_writer(&mut buf, model)?;
        // `serde_json` writes UTF-8 only.
        Self::from_utf8(buf)
    }

    /// Write `model` with its hand writer (the hot v3 bodies: a fraction of the
    /// instructions `encode` spends on the same text).
    pub(crate) fn write(model: &impl WriteJson) -> Result<Self, serde_json::Error> {
        let mut buf = Vec::with_capacity(ENCODE_CAPACITY);
        model.write_json(&mut buf);
        // UTF-8 by construction (ASCII literals and `str`s, escaped as `serde_json`
        // does); checked once, without `unsafe`, at a fraction of the cost of writing.
        Self::from_utf8(buf)
    }

    fn from_utf8(buf: Vec<u8>) -> Result<Self, serde_json::Error> {
        String::from_utf8(buf)
            .map(Self)
            .map_err(<serde_json::Error as serde::ser::Error>::custom)
    }

    /// A `Value` as a body (pass-through and exchange requests built as `Value`s).
    pub fn of_value(v: &Value) -> Self {
        // Writing a `Value` cannot fail: its map keys are strings.
        Self::encode(v).unwrap_or_else(|_| Self::empty_object())
    }

    /// `{}`.
    pub fn empty_object() -> Self {
        Self("{}".to_owned())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JSON text as bytes to send.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0.into_bytes()
    }

    /// The body as a `Value` (for rewrites off the hot path, and for tests).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.as_str()).unwrap_or_default()
    }

    /// One top-level field of an object body, decoded as `T`; `None` when the body is
    /// not an object, the field is absent, or it does not decode as `T`. A body that
    /// does not contain the key's bytes anywhere is not scanned at all.
    pub fn field<'a, T: Deserialize<'a>>(&'a self, key: &str) -> Option<T> {
        let text = self.as_str();
        // `serde_json` writes a key verbatim unless it holds a quote, a backslash or a
        // control character: otherwise the key's bytes must occur in the text.
        let verbatim = !key.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20);
        if verbatim && memchr::memmem::find(text.as_bytes(), key.as_bytes()).is_none() {
            return None;
        }
        serde_json::from_str(top_level(text, key)?).ok()
    }
}

impl PartialEq for JsonBody {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Display for JsonBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text as it is (for tests and the `translate` command: it is checked once more).
impl Serialize for JsonBody {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// The text of the value of `key` at the top level of the object `json`, which must be
/// valid JSON. Strings are skipped by their quotes and escapes, not decoded (a key is
/// decoded only when it is written with escapes). The scan stops at the
/// first match: `serde_json` writes each key of a map or a struct once.
fn top_level<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    if !json.trim_start().starts_with('{') {
        return None;
    }
    let b = json.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    let mut value_start: Option<usize> = None;
    // At depth 1, the next string is a key (after `{` or `,`).
    let mut at_key = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i + 1;
                i = string_end(b, start);
                if depth == 1 && at_key {
                    at_key = false;
                    if key_is(json, start, i, key) {
                        // The value starts past the `:` that follows the key.
                        value_start = b[i..].iter().position(|&c| c == b':').map(|p| i + p + 1);
                    }
                }
            }
            b'{' | b'[' => {
                depth += 1;
                at_key = depth == 1 && b[i] == b'{';
            }
            c @ (b'}' | b']' | b',') => {
                if depth == 1 {
                    if let Some(s) = value_start {
                        return json.get(s..i);
                    }
                    at_key = c == b',';
                }
                depth = depth.saturating_sub(1 - usize::from(c == b','));
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether the key written at `json[start..end]` (between its quotes) is `key`; a key
/// written with escapes is decoded first.
fn key_is(json: &str, start: usize, end: usize, key: &str) -> bool {
    let Some(raw) = json.get(start..end) else {
        return false;
    };
    if !raw.contains('\\') {
        return raw == key;
    }
    json.get(start - 1..=end)
        .and_then(|quoted| serde_json::from_str::<String>(quoted).ok())
        .is_some_and(|k| k == key)
}

/// The index of the quote closing the string whose content starts at `i`.
fn string_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b'"' {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::borrow::Cow;

    fn body(v: Value) -> JsonBody {
        JsonBody::of_value(&v)
    }

    #[test]
    fn top_level_fields_are_found_and_nested_ones_are_not() {
        let b = body(json!({
            "a": {"callback_url": "nested", "x": [1, {"callback_url": 2}]},
            "s": "a \"quoted\" ,}] callback_url",
            "callback_url": "http://cb.example/x?q=\"1\"",
            "job_plan_id": 42,
            "z": [[], {}]
        }));
        assert_eq!(
            b.field::<Cow<'_, str>>("callback_url").as_deref(),
            Some("http://cb.example/x?q=\"1\"")
        );
        assert_eq!(b.field::<i64>("job_plan_id"), Some(42));
        assert_eq!(
            b.field::<Value>("a").map(|a| a["x"][0].clone()),
            Some(json!(1))
        );
        assert_eq!(b.field::<Value>("z"), Some(json!([[], {}])));
        assert_eq!(b.field::<i64>("missing"), None);
        assert_eq!(b.field::<i64>("callback_url"), None, "wrong type");
        assert_eq!(b.field::<i64>("x"), None, "only nested");
    }

    #[test]
    fn fields_agree_with_a_parsed_value() {
        let cases = [
            json!({}),
            json!([1, 2]),
            json!(["x", "callback_url", "y", "job_plan_id", 3]),
            json!("callback_url"),
            json!({"callback_url": null}),
            json!({"k": "\\", "callback_url": "\\\"", "job_plan_id": -1.5}),
            json!({"k": "callback_url", "v": {"job_plan_id": 1}}),
            json!({"callback_url": {"url": "x"}, "job_plan_id": "7"}),
            json!({"job_plan_id": 9_007_199_254_740_993_i64, "last": true}),
        ];
        for v in cases {
            let b = body(v.clone());
            for key in ["callback_url", "job_plan_id", "last", "k"] {
                assert_eq!(b.field::<Value>(key), v.get(key).cloned(), "{key} in {v}");
                assert_eq!(
                    b.field::<i64>(key),
                    v.get(key).and_then(Value::as_i64),
                    "{key} in {v}"
                );
            }
        }
    }

    #[test]
    fn text_round_trips() {
        let v = json!({"b": [1, "x"], "a": {"c": null}});
        let b = body(v.clone());
        assert_eq!(b.to_value(), v);
        assert_eq!(b.to_string(), b.as_str());
        assert_eq!(
            String::from_utf8(b.clone().into_bytes()).ok().as_deref(),
            Some(b.as_str())
        );
        assert_eq!(JsonBody::empty_object().as_str(), "{}");
        assert_eq!(serde_json::to_value(&b).ok(), Some(v));
    }
}
