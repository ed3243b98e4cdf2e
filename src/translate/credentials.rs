//! Legacy credentials: found in the body (or query, header, cookie: see `crate::auth`),
//! sent upstream only inside `X-Bkapi-Authorization`.
//!
//! `Debug` never prints a secret; [`Credentials::redacted`] shows secrets as `***`.

use serde_json::{Map, Value};
use std::fmt;

/// Body/query keys that carry credentials, aliases included. All are removed from the
/// forwarded body.
pub const CREDENTIAL_KEYS: [&str; 8] = [
    "bk_app_code",
    "app_code",
    "bk_app_secret",
    "app_secret",
    "bk_token",
    "bk_username",
    "username",
    "access_token",
];

/// The identity a legacy caller presented.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `bk_app_code` (alias `app_code`).
    pub app_code: Option<String>,
    /// `bk_app_secret` (alias `app_secret`). Secret.
    pub app_secret: Option<String>,
    /// `bk_token`: user login ticket. Secret.
    pub bk_token: Option<String>,
    /// `bk_username` (alias `username`).
    pub username: Option<String>,
    /// `access_token`. Secret.
    pub access_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mask = |o: &Option<String>| o.as_ref().map(|_| "***");
        f.debug_struct("Credentials")
            .field("app_code", &self.app_code)
            .field("app_secret", &mask(&self.app_secret))
            .field("bk_token", &mask(&self.bk_token))
            .field("username", &self.username)
            .field("access_token", &mask(&self.access_token))
            .finish()
    }
}

/// A non-empty string value; numbers are accepted as their decimal text.
fn string_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Credentials {
    /// Remove every credential key from `body` and return what was found. The primary
    /// key wins over its alias (`bk_app_code` over `app_code`).
    pub fn take_from(body: &mut Map<String, Value>) -> Self {
        let mut take = |primary: &str, alias: Option<&str>| {
            let p = body.remove(primary).as_ref().and_then(string_value);
            let a = alias
                .and_then(|k| body.remove(k))
                .as_ref()
                .and_then(string_value);
            p.or(a)
        };
        Self {
            app_code: take("bk_app_code", Some("app_code")),
            app_secret: take("bk_app_secret", Some("app_secret")),
            bk_token: take("bk_token", None),
            username: take("bk_username", Some("username")),
            access_token: take("access_token", None),
        }
    }

    /// Parse an incoming `X-Bkapi-Authorization` header value (a JSON object).
    pub fn from_header_json(value: &str) -> Option<Self> {
        match serde_json::from_str::<Value>(value) {
            Ok(Value::Object(mut map)) => Some(Self::take_from(&mut map)),
            _ => None,
        }
    }

    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.app_code.is_none()
            && self.app_secret.is_none()
            && self.bk_token.is_none()
            && self.username.is_none()
            && self.access_token.is_none()
    }

    /// Fill the fields that are unset here from `other`.
    pub fn or(mut self, other: Credentials) -> Self {
        self.app_code = self.app_code.or(other.app_code);
        self.app_secret = self.app_secret.or(other.app_secret);
        self.bk_token = self.bk_token.or(other.bk_token);
        self.username = self.username.or(other.username);
        self.access_token = self.access_token.or(other.access_token);
        self
    }

    fn to_map(&self, redact: bool) -> Map<String, Value> {
        let mut m = Map::new();
        let secret = |s: &String| {
            if redact {
                Value::from("***")
            } else {
                Value::from(s.as_str())
            }
        };
        if let Some(v) = &self.app_code {
            m.insert("bk_app_code".into(), Value::from(v.as_str()));
        }
        if let Some(v) = &self.app_secret {
            m.insert("bk_app_secret".into(), secret(v));
        }
        if let Some(v) = &self.bk_token {
            m.insert("bk_token".into(), secret(v));
        }
        if let Some(v) = &self.username {
            m.insert("bk_username".into(), Value::from(v.as_str()));
        }
        if let Some(v) = &self.access_token {
            m.insert("access_token".into(), secret(v));
        }
        m
    }

    /// The `X-Bkapi-Authorization` header value (JSON object). Contains secrets.
    pub fn header_value(&self) -> String {
        ascii_json(&Value::Object(self.to_map(false)).to_string())
    }

    /// The same object with every secret replaced by `***` (for output and logs).
    pub fn redacted(&self) -> Value {
        Value::Object(self.to_map(true))
    }

    /// Every secret value held, to check that none leaks (tests, log scrubbing).
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        [&self.app_secret, &self.bk_token, &self.access_token]
            .into_iter()
            .filter_map(|s| s.as_deref())
    }
}

/// JSON text with every non-ASCII character written as `\uXXXX` (surrogate pairs above
/// the BMP), so that it is a valid HTTP header value whatever the user name contains.
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn takes_every_alias_and_primary_wins() {
        let mut body = json!({
            "bk_app_code": "a", "app_code": "b", "app_secret": "s", "bk_token": "t",
            "username": "u", "access_token": "x", "bk_biz_id": 1
        });
        let map = body.as_object_mut().unwrap_or_else(|| unreachable!());
        let c = Credentials::take_from(map);
        assert_eq!(c.app_code.as_deref(), Some("a"));
        assert_eq!(c.app_secret.as_deref(), Some("s"));
        assert_eq!(c.username.as_deref(), Some("u"));
        assert_eq!(map.len(), 1, "only bk_biz_id is left: {map:?}");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("\"s\"") && !dbg.contains("\"t\"") && !dbg.contains("\"x\""));
        assert_eq!(c.redacted()["bk_app_secret"], "***");
        let header: Value = serde_json::from_str(&c.header_value()).unwrap_or_default();
        assert_eq!(header["bk_token"], "t");
    }

    #[test]
    fn header_value_is_ascii() {
        let c = Credentials {
            username: Some("张三😀".into()),
            ..Credentials::default()
        };
        let h = c.header_value();
        assert!(h.is_ascii(), "{h}");
        let back: Value = serde_json::from_str(&h).unwrap_or_default();
        assert_eq!(back["bk_username"], "张三😀");
    }

    #[test]
    fn header_json_must_be_object() {
        assert!(Credentials::from_header_json("not json").is_none());
        assert!(Credentials::from_header_json("[1]").is_none());
        let c = Credentials::from_header_json(r#"{"app_code":"x"}"#).unwrap_or_default();
        assert_eq!(c.app_code.as_deref(), Some("x"));
    }
}
