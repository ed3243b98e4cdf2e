//! Typed, path-aware reads of the JSON tree of an upstream answer: a wrong type or a
//! missing member fails naming the field by its path.

use super::super::error::{RejectReason, TranslateError};
use serde_json::{Map, Value};

/// Typed, path-aware reads from one JSON object of an upstream answer.
pub(crate) struct Reader<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Reader<'a> {
    /// `value` must be an object; `path` names it in errors.
    pub(crate) fn new(value: &'a Value, path: impl Into<String>) -> Result<Self, TranslateError> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Self { map, path }),
            other => Err(wrong_type(path, "an object", other)),
        }
    }

    fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A member read by `as_type`, or `None` when null or absent; `what` names the
    /// type `as_type` accepts in the error for any other.
    fn opt<T>(
        &self,
        key: &str,
        what: &str,
        as_type: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, TranslateError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => as_type(v)
                .map(Some)
                .ok_or_else(|| wrong_type(self.field(key), what, v)),
        }
    }

    /// An integer, or `None` when null or absent.
    pub(crate) fn opt_i64(&self, key: &str) -> Result<Option<i64>, TranslateError> {
        self.opt(key, "an integer", Value::as_i64)
    }

    /// A required integer.
    pub(crate) fn req_i64(&self, key: &str) -> Result<i64, TranslateError> {
        self.opt_i64(key)?.ok_or_else(|| self.missing(key))
    }

    /// A string, or `None` when null or absent.
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, TranslateError> {
        self.opt(key, "a string", Value::as_str)
    }

    /// A boolean, or `None` when null or absent.
    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, TranslateError> {
        self.opt(key, "a boolean", Value::as_bool)
    }

    /// An array; empty when null or absent.
    pub(crate) fn opt_array(&self, key: &str) -> Result<&'a [Value], TranslateError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(v) => Err(wrong_type(self.field(key), "an array", v)),
        }
    }

    /// A required array.
    pub(crate) fn req_array(&self, key: &str) -> Result<&'a [Value], TranslateError> {
        match self.get(key) {
            None => Err(self.missing(key)),
            Some(_) => self.opt_array(key),
        }
    }

    /// A required object.
    pub(crate) fn req_obj(&self, key: &str) -> Result<Reader<'a>, TranslateError> {
        match self.get(key) {
            None => Err(self.missing(key)),
            Some(v) => Reader::new(v, self.field(key)),
        }
    }

    fn missing(&self, key: &str) -> TranslateError {
        TranslateError::new(
            RejectReason::Missing,
            self.field(key),
            "missing in the upstream answer",
        )
    }
}

/// Error for an upstream value of the wrong JSON type.
pub(crate) fn wrong_type(field: String, expected: &str, got: &Value) -> TranslateError {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    TranslateError::new(
        RejectReason::Type,
        field,
        format!("expected {expected} in the upstream answer, got {kind}"),
    )
}
