//! Legacy credentials: found in the body (or query, header, cookie: see `crate::auth`),
//! sent upstream only inside `X-Bkapi-Authorization`.
//!
//! `Debug` never prints a secret; [`Credentials::redacted`] shows secrets as `***`.

use serde::Serialize;
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
fn string_value(v: Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Credentials {
    /// Remove every credential key from `body` and return what was found. The primary
    /// key wins over its alias (`bk_app_code` over `app_code`).
    pub fn take_from(body: &mut Map<String, Value>) -> Self {
        // One pass over the members: a search of the map per credential key cost more
        // than the rest of reading a query.
        let mut found: [Option<Value>; CREDENTIAL_KEYS.len()] = Default::default();
        body.retain(|key, value| {
            let Some(i) = CREDENTIAL_KEYS.iter().position(|k| k == key) else {
                return true;
            };
            if let Some(slot) = found.get_mut(i) {
                *slot = Some(value.take());
            }
            false
        });
        let mut take = |key: &str| {
            let i = CREDENTIAL_KEYS.iter().position(|k| *k == key)?;
            found.get_mut(i)?.take().and_then(string_value)
        };
        Self {
            app_code: take("bk_app_code").or_else(|| take("app_code")),
            app_secret: take("bk_app_secret").or_else(|| take("app_secret")),
            bk_token: take("bk_token"),
            username: take("bk_username").or_else(|| take("username")),
            access_token: take("access_token"),
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
        // Written straight from the fields (no map built per request), members in key
        // order as the map writes them.
        #[derive(Serialize)]
        struct Header<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            access_token: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            bk_app_code: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            bk_app_secret: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            bk_token: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            bk_username: Option<&'a str>,
        }
        let header = Header {
            access_token: self.access_token.as_deref(),
            bk_app_code: self.app_code.as_deref(),
            bk_app_secret: self.app_secret.as_deref(),
            bk_token: self.bk_token.as_deref(),
            bk_username: self.username.as_deref(),
        };
        // Writing string fields cannot fail.
        ascii_json(serde_json::to_string(&header).unwrap_or_default())
    }

    /// The same object with every secret replaced by `***` (for output and logs).
    pub fn redacted(&self) -> Value {
        Value::Object(self.to_map(true))
    }

    /// Check every value against the credential limits: app code ≤ 32 of
    /// `[A-Za-z0-9_.-]`, secret ≤ 128 printable ASCII, user ≤ 64 printable characters,
    /// tickets ≤ 4096 printable ASCII.
    pub fn check_limits(&self) -> Result<(), CredentialError> {
        let fields = [
            ("bk_app_code", &self.app_code),
            ("bk_app_secret", &self.app_secret),
            ("bk_token", &self.bk_token),
            ("bk_username", &self.username),
            ("access_token", &self.access_token),
        ];
        for (field, v) in fields {
            if let Some(v) = v {
                check_value(field, v)?;
            }
        }
        Ok(())
    }

    /// Every secret value held, to check that none leaks (tests, log scrubbing).
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        [&self.app_secret, &self.bk_token, &self.access_token]
            .into_iter()
            .filter_map(|s| s.as_deref())
    }
}

/// Longest app code the API gateway accepts (`bk-auth-verify`, spec §6.1).
pub const MAX_APP_CODE_LEN: usize = 32;
/// Longest app secret the API gateway accepts (spec §6.1).
pub const MAX_APP_SECRET_LEN: usize = 128;
/// Longest user name accepted.
pub const MAX_USERNAME_LEN: usize = 64;
/// Longest `bk_token` / `access_token` / `jwt` accepted (bounds the upstream header).
pub const MAX_TOKEN_LEN: usize = 4096;

/// Keys an incoming `X-Bkapi-Authorization` may carry: the credential keys and `jwt`
/// (a gateway JWT, passed on opaquely). Anything else is refused.
pub const HEADER_KEYS: [&str; 9] = [
    "bk_app_code",
    "app_code",
    "bk_app_secret",
    "app_secret",
    "bk_token",
    "bk_username",
    "username",
    "access_token",
    "jwt",
];

/// Why presented credentials were refused (answered `1306000`). Messages name the key and
/// the limit, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// `X-Bkapi-Authorization` is not a JSON object.
    #[error("request header X-Bkapi-Authorization is not a valid JSON object")]
    NotAnObject,
    /// A key (or a key and its alias) appears twice in `X-Bkapi-Authorization`.
    #[error("request header X-Bkapi-Authorization has a duplicate key [{0}]")]
    DuplicateKey(String),
    /// A key the shim does not know in `X-Bkapi-Authorization`.
    #[error("request header X-Bkapi-Authorization has an unknown key [{0}]")]
    UnknownKey(String),
    /// A value that is not a string.
    #[error("credential [{0}] must be a string")]
    NotAString(&'static str),
    /// A value over its length limit.
    #[error("credential [{field}] is longer than {max} characters")]
    TooLong {
        /// Canonical key.
        field: &'static str,
        /// The limit.
        max: usize,
    },
    /// A value with characters it may not contain.
    #[error("credential [{field}] must be {allowed}")]
    BadChars {
        /// Canonical key.
        field: &'static str,
        /// What is allowed, in words.
        allowed: &'static str,
    },
}

/// Checks one value against its key's limits (see [`Credentials::check_limits`]).
fn check_value(field: &'static str, v: &str) -> Result<(), CredentialError> {
    let (max, ok, allowed): (usize, fn(char) -> bool, &'static str) = match field {
        "bk_app_code" => (
            MAX_APP_CODE_LEN,
            |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'),
            "letters, digits, `_`, `-` or `.`",
        ),
        "bk_username" => (
            MAX_USERNAME_LEN,
            |c| !c.is_control(),
            "printable characters",
        ),
        "bk_app_secret" => (
            MAX_APP_SECRET_LEN,
            |c| c.is_ascii_graphic(),
            "printable ASCII without spaces",
        ),
        _ => (
            MAX_TOKEN_LEN,
            |c| c.is_ascii_graphic(),
            "printable ASCII without spaces",
        ),
    };
    if v.chars().count() > max {
        return Err(CredentialError::TooLong { field, max });
    }
    if !v.chars().all(ok) {
        return Err(CredentialError::BadChars { field, allowed });
    }
    Ok(())
}

/// A strictly parsed incoming `X-Bkapi-Authorization`: only [`HEADER_KEYS`], each at most
/// once (a key and its alias count as one), string values within the credential limits.
/// It is forwarded re-serialized ([`AuthorizationHeader::to_header_value`]), never
/// verbatim, so the gateway reads exactly what the shim read.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthorizationHeader {
    credentials: Credentials,
    /// `jwt` key (a gateway JWT). Secret.
    jwt: Option<String>,
}

impl fmt::Debug for AuthorizationHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationHeader")
            .field("credentials", &self.credentials)
            .field("jwt", &self.jwt.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The key/value pairs of a JSON object in document order, duplicates kept.
struct Pairs(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Pairs, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = m.next_entry::<String, Value>()? {
                    if out.len() >= HEADER_KEYS.len() {
                        return Err(serde::de::Error::custom("too many keys"));
                    }
                    out.push(kv);
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Canonical name of a header key (aliases folded), or `None` when unknown.
fn canonical(key: &str) -> Option<&'static str> {
    Some(match key {
        "bk_app_code" | "app_code" => "bk_app_code",
        "bk_app_secret" | "app_secret" => "bk_app_secret",
        "bk_token" => "bk_token",
        "bk_username" | "username" => "bk_username",
        "access_token" => "access_token",
        "jwt" => "jwt",
        _ => return None,
    })
}

/// Parse an incoming `X-Bkapi-Authorization` value strictly (see [`AuthorizationHeader`]).
/// `null` and empty strings count as absent.
pub fn parse_authorization_header(value: &str) -> Result<AuthorizationHeader, CredentialError> {
    let Pairs(pairs) = serde_json::from_str(value).map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix("too many keys") {
            Some(_) => CredentialError::UnknownKey("(more keys than known)".into()),
            None => CredentialError::NotAnObject,
        }
    })?;
    let mut seen: Vec<&'static str> = Vec::with_capacity(pairs.len());
    let mut h = AuthorizationHeader::default();
    for (key, v) in pairs {
        let field = canonical(&key).ok_or_else(|| CredentialError::UnknownKey(shorten(&key)))?;
        if seen.contains(&field) {
            return Err(CredentialError::DuplicateKey(field.to_owned()));
        }
        seen.push(field);
        let v = match v {
            Value::Null => continue,
            Value::String(s) if s.is_empty() => continue,
            Value::String(s) => s,
            _ => return Err(CredentialError::NotAString(field)),
        };
        check_value(field, &v)?;
        let c = &mut h.credentials;
        let slot = match field {
            "bk_app_code" => &mut c.app_code,
            "bk_app_secret" => &mut c.app_secret,
            "bk_token" => &mut c.bk_token,
            "bk_username" => &mut c.username,
            "access_token" => &mut c.access_token,
            _ => &mut h.jwt,
        };
        *slot = Some(v);
    }
    Ok(h)
}

/// A key echoed in an error: at most 32 characters, printable ASCII only.
fn shorten(key: &str) -> String {
    key.chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

impl AuthorizationHeader {
    /// The credentials it carries.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The `jwt` key, if any (secret).
    pub fn jwt(&self) -> Option<&str> {
        self.jwt.as_deref()
    }

    /// The value to forward: canonical keys only, re-serialized (ASCII JSON).
    pub fn to_header_value(&self) -> String {
        let mut m = self.credentials.to_map(false);
        if let Some(j) = &self.jwt {
            m.insert("jwt".into(), Value::from(j.as_str()));
        }
        ascii_json(Value::Object(m).to_string())
    }
}

/// JSON text with every non-ASCII character written as `\uXXXX` (surrogate pairs above
/// the BMP), so that it is a valid HTTP header value whatever the user name contains.
fn ascii_json(json: String) -> String {
    if json.is_ascii() {
        return json;
    }
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
            "bk_username": "", "username": "u", "access_token": 7, "bk_biz_id": 1
        });
        let map = body.as_object_mut().unwrap_or_else(|| unreachable!());
        let c = Credentials::take_from(map);
        assert_eq!(c.app_code.as_deref(), Some("a"));
        assert_eq!(c.app_secret.as_deref(), Some("s"));
        // An empty primary counts as absent; a number is read as its text.
        assert_eq!(c.username.as_deref(), Some("u"));
        assert_eq!(c.access_token.as_deref(), Some("7"));
        assert_eq!(map.len(), 1, "only bk_biz_id is left: {map:?}");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("\"s\"") && !dbg.contains("\"t\"") && !dbg.contains("\"7\""));
        assert_eq!(c.redacted()["bk_app_secret"], "***");
        let header: Value = serde_json::from_str(&c.header_value()).unwrap_or_default();
        assert_eq!(header["bk_token"], "t");
    }

    #[test]
    fn header_value_is_the_map_written() {
        let full = Credentials {
            app_code: Some("app".into()),
            app_secret: Some("s\"x".into()),
            bk_token: Some("t".into()),
            username: Some("张三".into()),
            access_token: Some("a".into()),
        };
        let partial = Credentials {
            app_code: Some("app".into()),
            bk_token: Some("t".into()),
            ..Credentials::default()
        };
        for c in [full, partial, Credentials::default()] {
            let map = Value::Object(c.to_map(false)).to_string();
            assert_eq!(c.header_value(), ascii_json(map));
        }
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

    #[test]
    fn strict_header_refuses_duplicates_unknown_keys_and_non_strings() {
        let e = |s: &str| parse_authorization_header(s).err();
        assert_eq!(e("nope"), Some(CredentialError::NotAnObject));
        assert_eq!(e("[1]"), Some(CredentialError::NotAnObject));
        assert_eq!(
            e(r#"{"bk_app_code":"a","bk_app_code":"b"}"#),
            Some(CredentialError::DuplicateKey("bk_app_code".into()))
        );
        assert_eq!(
            e(r#"{"bk_app_code":"a","app_code":"a"}"#),
            Some(CredentialError::DuplicateKey("bk_app_code".into()))
        );
        assert_eq!(
            e(r#"{"bk_app_code":"a","x-evil":"1"}"#),
            Some(CredentialError::UnknownKey("x-evil".into()))
        );
        assert_eq!(
            e(r#"{"bk_app_secret":1}"#),
            Some(CredentialError::NotAString("bk_app_secret"))
        );
        let many = (0..20)
            .map(|i| format!("\"k{i}\":1"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(matches!(
            e(&format!("{{{many}}}")),
            Some(CredentialError::UnknownKey(_))
        ));
        let msg = e(r#"{"bk_app_code":"a","bk_app_secret":"s","bk_app_secret":"t"}"#)
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("duplicate key [bk_app_secret]") && !msg.contains("\"t\""),
            "{msg}"
        );
    }

    #[test]
    fn strict_header_is_forwarded_re_serialized() {
        let h = parse_authorization_header(
            r#" { "app_code" : "a", "bk_app_secret":"s", "bk_token": "", "jwt": "j.w.t",
                 "username": null } "#,
        )
        .unwrap_or_default();
        assert_eq!(h.credentials().app_code.as_deref(), Some("a"));
        assert_eq!(h.jwt(), Some("j.w.t"));
        let out = h.to_header_value();
        let v: Value = serde_json::from_str(&out).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"bk_app_code": "a", "bk_app_secret": "s", "jwt": "j.w.t"})
        );
        assert_eq!(parse_authorization_header(&out).ok(), Some(h.clone()));
        assert!(!format!("{h:?}").contains("j.w.t"));
    }

    #[test]
    fn limits_on_length_and_characters() {
        let c = |app: &str, secret: &str, user: &str| Credentials {
            app_code: Some(app.into()),
            app_secret: Some(secret.into()),
            username: Some(user.into()),
            ..Credentials::default()
        };
        assert_eq!(
            c(&"a".repeat(32), &"s".repeat(128), &"张".repeat(64)).check_limits(),
            Ok(())
        );
        assert_eq!(
            c(&"a".repeat(33), "s", "u").check_limits(),
            Err(CredentialError::TooLong {
                field: "bk_app_code",
                max: 32
            })
        );
        assert_eq!(
            c("a", &"s".repeat(129), "u").check_limits(),
            Err(CredentialError::TooLong {
                field: "bk_app_secret",
                max: 128
            })
        );
        assert_eq!(
            c("a", "s", &"u".repeat(65)).check_limits(),
            Err(CredentialError::TooLong {
                field: "bk_username",
                max: 64
            })
        );
        for (app, secret, user, field) in [
            ("a b", "s", "u", "bk_app_code"),
            ("a", "s s", "u", "bk_app_secret"),
            ("a", "s", "u\r\nx", "bk_username"),
            ("a", "s", "u\u{7f}", "bk_username"),
        ] {
            assert!(
                matches!(c(app, secret, user).check_limits(),
                    Err(CredentialError::BadChars { field: f, .. }) if f == field),
                "{field}"
            );
        }
        let big = format!(r#"{{"bk_username":"{}"}}"#, "u".repeat(100_000));
        assert_eq!(
            parse_authorization_header(&big).err(),
            Some(CredentialError::TooLong {
                field: "bk_username",
                max: 64
            })
        );
    }
}
