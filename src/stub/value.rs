//! Jackson-like reading of JSON fields and Spring-like query strings.
//!
//! bk-job binds request bodies with Jackson (default settings: scalar coercion on, so
//! `"123"` is a valid `Long` and `123` a valid `String`; a wrong JSON *kind*, such as an
//! object where a number is expected, fails the whole request with `1240003 Bad
//! Request`). GET resources bind `@RequestParam`s the same way from the query string, so
//! the query is turned into a JSON object of strings and read with the same helpers.

use serde_json::{Map, Value};

/// The request cannot be bound (malformed JSON, wrong JSON kind, unparsable number):
/// bk-job answers `1240003 Bad Request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BadRequest;

/// A JSON object.
pub(super) type Obj = Map<String, Value>;

/// `Long` field: numbers (floats truncated, like Jackson's `ACCEPT_FLOAT_AS_INT`),
/// numeric strings; `""` and `null` are absent.
pub(super) fn opt_i64(obj: &Obj, key: &str) -> Result<Option<i64>, BadRequest> {
    obj.get(key).map_or(Ok(None), as_i64)
}

/// `Integer` field: as [`opt_i64`], and the value must fit in 32 bits.
pub(super) fn opt_i32(obj: &Obj, key: &str) -> Result<Option<i64>, BadRequest> {
    match opt_i64(obj, key)? {
        Some(v) if i32::try_from(v).is_err() => Err(BadRequest),
        other => Ok(other),
    }
}

/// One JSON value read as a `Long`.
pub(super) fn as_i64(v: &Value) -> Result<Option<i64>, BadRequest> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if n.is_u64() {
                Err(BadRequest)
            } else {
                let f = n.as_f64().ok_or(BadRequest)?;
                // i64::MAX as f64 rounds up to 2^63, so the upper bound is exclusive.
                if f.is_finite() && f >= i64::MIN as f64 && f < i64::MAX as f64 {
                    Ok(Some(f.trunc() as i64))
                } else {
                    Err(BadRequest)
                }
            }
        }
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse::<i64>().map(Some).map_err(|_| BadRequest)
            }
        }
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err(BadRequest),
    }
}

/// `String` field: strings, and scalars as their text; `null` is absent.
pub(super) fn opt_string(obj: &Obj, key: &str) -> Result<Option<String>, BadRequest> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(Value::Array(_) | Value::Object(_)) => Err(BadRequest),
    }
}

/// A `String` field that must be present and not blank.
pub(super) fn non_blank(obj: &Obj, key: &str) -> Result<Option<String>, BadRequest> {
    Ok(opt_string(obj, key)?.filter(|s| !s.trim().is_empty()))
}

/// `Boolean` field: JSON booleans, `true`/`false`/`on`/`off`/`yes`/`no`/`1`/`0` strings
/// (Spring's conversion for query parameters), numbers 0 and 1.
pub(super) fn opt_bool(obj: &Obj, key: &str) -> Result<Option<bool>, BadRequest> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "on" | "yes" | "1" => Ok(Some(true)),
            "false" | "off" | "no" | "0" => Ok(Some(false)),
            _ => Err(BadRequest),
        },
        Some(Value::Number(n)) => match n.as_i64() {
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            _ => Err(BadRequest),
        },
        Some(Value::Array(_) | Value::Object(_)) => Err(BadRequest),
    }
}

/// A list field (`null` is absent; a non-array fails, since Jackson's
/// `ACCEPT_SINGLE_VALUE_AS_ARRAY` is off by default).
pub(super) fn opt_array<'a>(obj: &'a Obj, key: &str) -> Result<Option<&'a [Value]>, BadRequest> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a.as_slice())),
        Some(_) => Err(BadRequest),
    }
}

/// A nested object field (`null` is absent).
pub(super) fn opt_object<'a>(obj: &'a Obj, key: &str) -> Result<Option<&'a Obj>, BadRequest> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(BadRequest),
    }
}

/// An element of a list of objects; `null` elements are skipped by the caller.
pub(super) fn as_object(v: &Value) -> Result<Option<&Obj>, BadRequest> {
    match v {
        Value::Null => Ok(None),
        Value::Object(o) => Ok(Some(o)),
        _ => Err(BadRequest),
    }
}

/// Parse a POST body into a JSON object. An empty body or anything but an object is
/// unreadable (`HttpMessageNotReadableException` in Spring).
pub(super) fn parse_body(bytes: &[u8]) -> Result<Obj, BadRequest> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(BadRequest),
    }
}

/// Turn a raw query string into a JSON object of strings (first occurrence wins).
pub(super) fn query_object(query: Option<&str>) -> Obj {
    crate::translate::query::parse_query(query.unwrap_or(""))
}

/// One query parameter (decoded; the first occurrence wins).
pub(super) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query_object(query)
        .remove(name)
        .and_then(|v| v.as_str().map(str::to_owned))
}

/// bk-job's IPv4 pattern (`EsbIpDTO.ip`): four dot-separated octets, each one or two
/// digits, or `1dd`, `2[0-4]d`, `25[0-5]`; the whole string must match.
pub(super) fn is_bk_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            let b = p.as_bytes();
            if !b.iter().all(u8::is_ascii_digit) {
                return false;
            }
            matches!(
                b,
                [_] | [_, _] | [b'1', _, _] | [b'2', b'0'..=b'4', _] | [b'2', b'5', b'0'..=b'5']
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Obj {
        match v {
            Value::Object(m) => m,
            _ => Obj::new(),
        }
    }

    #[test]
    fn jackson_like_coercion() {
        let o = obj(json!({
            "a": 5, "b": "7", "c": 1.9, "d": "", "e": true, "f": [1], "g": "x",
            "h": 4294967296i64, "s": 12, "t": {"k": 1}
        }));
        assert_eq!(opt_i64(&o, "a"), Ok(Some(5)));
        assert_eq!(opt_i64(&o, "b"), Ok(Some(7)));
        assert_eq!(opt_i64(&o, "c"), Ok(Some(1)));
        assert_eq!(opt_i64(&o, "d"), Ok(None));
        assert_eq!(opt_i64(&o, "missing"), Ok(None));
        assert_eq!(opt_i64(&o, "e"), Err(BadRequest));
        assert_eq!(opt_i64(&o, "f"), Err(BadRequest));
        assert_eq!(opt_i64(&o, "g"), Err(BadRequest));
        assert_eq!(opt_i32(&o, "h"), Err(BadRequest));
        assert_eq!(opt_string(&o, "s"), Ok(Some("12".into())));
        assert_eq!(opt_string(&o, "t"), Err(BadRequest));
        assert_eq!(opt_bool(&o, "e"), Ok(Some(true)));
        assert_eq!(opt_bool(&o, "g"), Err(BadRequest));
        assert_eq!(opt_i64(&obj(json!({"x": 1e300})), "x"), Err(BadRequest));
        assert_eq!(
            opt_i64(&obj(json!({"x": 18446744073709551615u64})), "x"),
            Err(BadRequest)
        );
    }

    #[test]
    fn query_decoding() {
        let q = query_object(Some("a=1&b=x%20y+z&a=2&c&d=%zz&e=%E4%BD%A0&f=%4"));
        assert_eq!(q["a"], "1");
        assert_eq!(q["b"], "x y z");
        assert_eq!(q["c"], "");
        assert_eq!(q["d"], "%zz");
        assert_eq!(q["e"], "你");
        assert_eq!(q["f"], "%4");
        assert!(query_object(None).is_empty());
        assert_eq!(
            query_param(Some("bk_signature=s%3D"), "bk_signature").as_deref(),
            Some("s=")
        );
    }

    #[test]
    fn ipv4_pattern() {
        for ok in ["127.0.0.1", "10.0.0.255", "1.2.3.04", "199.249.250.9"] {
            assert!(is_bk_ipv4(ok), "{ok}");
        }
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "001.2.3.4",
            " 1.2.3.4",
            "a.b.c.d",
            "::1",
            "1..2.3",
        ] {
            assert!(!is_bk_ipv4(bad), "{bad}");
        }
    }
}
