//! The legacy `data` of a finished reply: a tree (most calls build one), or JSON text
//! written straight from a typed legacy model (the status and log polls: no tree is
//! built, copied or dropped on their way to the client).

use super::body::JsonBody;
use super::write::WriteJson;
use super::{RejectReason, TranslateError};
use serde::{Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;

/// A reply's `data`.
#[derive(Debug, Clone)]
pub enum Data {
    /// A tree.
    Tree(Value),
    /// JSON text, always the output of `serde_json`'s serializer or of a `WriteJson`
    /// writer.
    Text(JsonBody),
}

impl Data {
    /// `model` written as JSON text.
    pub fn of(model: &impl Serialize) -> Result<Self, TranslateError> {
        JsonBody::encode(model).map(Self::Text).map_err(unwritable)
    }

    /// `model` written as JSON text by its hand writer (the bytes `of` would write).
    pub(crate) fn written(model: &impl WriteJson) -> Result<Self, TranslateError> {
        JsonBody::write(model).map(Self::Text).map_err(unwritable)
    }

    /// The data as a tree (read back from its text if need be: for tests and rewrites
    /// off the hot path).
    pub fn tree(&self) -> Cow<'_, Value> {
        match self {
            Self::Tree(v) => Cow::Borrowed(v),
            Self::Text(t) => Cow::Owned(t.to_value()),
        }
    }

    /// [`Self::tree`], owned.
    pub fn into_tree(self) -> Value {
        match self {
            Self::Tree(v) => v,
            Self::Text(_) => self.tree().into_owned(),
        }
    }
}

impl WriteJson for Data {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            // A `Value` into a `Vec`: neither the serializer nor the writer can fail.
            Self::Tree(v) => {
                let _ = serde_json::to_writer(&mut *out, v);
            }
            Self::Text(t) => out.extend_from_slice(t.as_str().as_bytes()),
        }
    }
}

impl From<Value> for Data {
    fn from(v: Value) -> Self {
        Self::Tree(v)
    }
}

impl Default for Data {
    fn default() -> Self {
        Self::Tree(Value::Null)
    }
}

/// Equal when the JSON is (the text of one and the tree of another may be compared).
impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Text(a), Self::Text(b)) if a == b => true,
            _ => self.tree() == other.tree(),
        }
    }
}

/// The JSON text.
impl std::fmt::Display for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tree(v) => v.fmt(f),
            Self::Text(t) => f.write_str(t.as_str()),
        }
    }
}

/// Why a model could not be written (a model serde cannot write as JSON).
fn unwritable(e: serde_json::Error) -> TranslateError {
    TranslateError::new(
        RejectReason::Invalid,
        "data",
        format!("cannot be written: {e}"),
    )
}

/// The text is checked once more on this path (tests, rewrites); the hot path writes it
/// with [`WriteJson`].
impl Serialize for Data {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Tree(v) => v.serialize(s),
            Self::Text(t) => t.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Serialize)]
    struct Model {
        b: Option<i64>,
        a: Vec<&'static str>,
    }

    #[test]
    fn text_and_tree_write_the_same_json() {
        let model = Model {
            b: None,
            a: vec!["x", "\"q\""],
        };
        let text = Data::of(&model).unwrap_or_default();
        let tree = Data::from(json!({"a": ["x", "\"q\""], "b": null}));
        assert!(matches!(text, Data::Text(_)));
        assert_eq!(text, tree);
        assert_ne!(text, Data::from(json!({"a": [], "b": null})));
        assert_eq!(text.tree().into_owned(), tree.clone().into_tree());
        // The text is written in the model's order, the tree in key order: same JSON.
        let written = |d: &Data| serde_json::to_string(d).unwrap_or_default();
        assert_eq!(written(&text), r#"{"b":null,"a":["x","\"q\""]}"#);
        assert_eq!(written(&tree), r#"{"a":["x","\"q\""],"b":null}"#);
        assert_eq!(text.to_string(), written(&text));
        assert_eq!(tree.to_string(), written(&tree));
    }
}
