//! Who is calling, and what goes into `X-Bkapi-Authorization` upstream.
//!
//! Sources, as on the API gateway (`spec/gateway-and-peers.md` §1.2):
//! 1. an incoming `X-Bkapi-Authorization` JSON object wins entirely;
//! 2. otherwise the legacy JSON body, then the query string, then the `bk_token` cookie.
//!
//! Credentials are always removed from the forwarded body, whichever source won.
//!
//! An incoming `X-Bkapi-Authorization` is parsed strictly (only the known keys, each once;
//! see [`crate::translate::credentials::parse_authorization_header`]) and forwarded
//! re-serialized, never verbatim. Every credential value, whatever its source, is checked
//! against the limits (app code ≤ 32, secret ≤ 128, user ≤ 64 printable characters) before
//! it is used for anything; a violation is answered `1306000` naming the key.

use crate::config::{AuthConfig, AuthMode};
use crate::error::ShimError;
use crate::jwt::{JwtIdentity, NoUserPolicy};
use crate::translate::Credentials;
use crate::translate::credentials::{
    AuthorizationHeader, CredentialError, parse_authorization_header,
};
use http::HeaderMap;
use serde_json::{Map, Value};

/// Header carrying credentials to the gateway.
pub const AUTHORIZATION_HEADER: &str = "x-bkapi-authorization";

/// Who the caller says they are.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// Credentials found (header, body, query or cookie).
    pub credentials: Credentials,
    /// The incoming `X-Bkapi-Authorization`, strictly parsed; forwarded re-serialized in
    /// passthrough mode (its `jwt` key included). `Debug` hides its secrets.
    header: Option<AuthorizationHeader>,
    /// The identity comes from a verified inbound JWT ([`Caller::set_verified`]).
    verified: bool,
}

/// Find the caller's credentials. `body` loses its credential keys. The `bk_token` cookie
/// is read only when `cookie_allowed` (read-only GETs and `application/json` POSTs, which
/// a page on another site cannot send without CORS).
pub fn identify(
    headers: &HeaderMap,
    query: &Map<String, Value>,
    body: &mut Map<String, Value>,
    cookie_allowed: bool,
) -> Result<Caller, ShimError> {
    let from_body = Credentials::take_from(body);
    let mut found = headers.get_all(AUTHORIZATION_HEADER).iter();
    if let Some(h) = found.next() {
        if found.next().is_some() {
            return Err(ShimError::Credential(CredentialError::DuplicateKey(
                "X-Bkapi-Authorization header".into(),
            )));
        }
        let text = std::str::from_utf8(h.as_bytes()).map_err(|_| ShimError::BadAuthHeader)?;
        let header = parse_authorization_header(text).map_err(|e| match e {
            CredentialError::NotAnObject => ShimError::BadAuthHeader,
            e => ShimError::Credential(e),
        })?;
        return Ok(Caller {
            credentials: header.credentials().clone(),
            header: Some(header),
            verified: false,
        });
    }
    let mut query = query.clone();
    let mut credentials = from_body.or(Credentials::take_from(&mut query));
    if credentials.bk_token.is_none() && cookie_allowed {
        credentials.bk_token = cookie(headers, "bk_token");
    }
    credentials.check_limits().map_err(ShimError::Credential)?;
    Ok(Caller {
        credentials,
        header: None,
        verified: false,
    })
}

/// Longest app code the API gateway accepts (`bk-auth-verify`, spec §6.1).
pub const MAX_APP_CODE_LEN: usize = 32;

/// Check an app code's shape before it is logged, rate-limited or used as a key:
/// 1 to 32 characters of `[A-Za-z0-9_.-]`.
pub fn check_app_code(app: &str) -> Result<(), ShimError> {
    let ok = !app.is_empty()
        && app.len() <= MAX_APP_CODE_LEN
        && app
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ShimError::InvalidAppCode)
    }
}

impl Caller {
    /// True when the caller sent an `X-Bkapi-Authorization` header.
    pub fn has_auth_header(&self) -> bool {
        self.header.is_some()
    }

    /// Replace the claimed identity with a verified one (inbound JWT): the app code, and
    /// the JWT's user. The caller's own user claims (`bk_username`, `bk_token`,
    /// `access_token`) are dropped; a JWT without a user is refused under
    /// [`NoUserPolicy::Reject`] and acts as its app under [`NoUserPolicy::App`]. An incoming
    /// `X-Bkapi-Authorization` is dropped, so the gateway sees the verified app code.
    pub fn set_verified_identity(
        &mut self,
        id: &JwtIdentity,
        no_user: NoUserPolicy,
    ) -> Result<(), ShimError> {
        let user = match (&id.username, no_user) {
            (Some(u), _) => u.clone(),
            (None, NoUserPolicy::App) => id.app_code.clone(),
            (None, NoUserPolicy::Reject) => {
                return Err(ShimError::Jwt(crate::jwt::JwtError::NoUser));
            }
        };
        let credentials = Credentials {
            app_code: Some(id.app_code.clone()),
            username: Some(user),
            app_secret: self.credentials.app_secret.take(),
            ..Credentials::default()
        };
        credentials.check_limits().map_err(ShimError::Credential)?;
        self.credentials = credentials;
        self.header = None;
        self.verified = true;
        Ok(())
    }

    /// Older form of [`Caller::set_verified_identity`] (no user policy); kept until the
    /// request stack calls the new one.
    pub fn set_verified(&mut self, app_code: String, username: Option<String>) {
        self.credentials.app_code = Some(app_code);
        if username.is_some() {
            self.credentials.username = username;
        }
        self.header = None;
        self.verified = true;
    }

    /// True when [`Caller::set_verified_identity`] replaced the identity with a JWT's.
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// The secret material the caller presented to prove its app (`bk_app_secret`, else
    /// `access_token`), for keying the limiter ([`crate::ratelimit::LimitKeyer`]).
    pub fn presented_secret(&self) -> Option<&str> {
        self.credentials
            .app_secret
            .as_deref()
            .or(self.credentials.access_token.as_deref())
    }
}

/// A user name fit for `X-Bk-Username`: 1 to 64 characters, none of them a control
/// character, no surrounding white space.
pub fn valid_user(u: &str) -> bool {
    !u.is_empty()
        && u.trim() == u
        && Credentials {
            username: Some(u.to_owned()),
            ..Credentials::default()
        }
        .check_limits()
        .is_ok()
}

/// Value of cookie `name`, if any (also read by the stub gateway).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// The shim's own identity in `app` mode.
#[derive(Clone, Default)]
pub struct AppIdentity {
    /// App code.
    pub app_code: String,
    /// App secret (never logged; `Debug` hides it).
    pub app_secret: Option<String>,
}

impl std::fmt::Debug for AppIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppIdentity")
            .field("app_code", &self.app_code)
            .field("app_secret", &self.app_secret.as_ref().map(|_| "***"))
            .finish()
    }
}

impl AppIdentity {
    /// Load the secret for `app` mode: the file wins over the environment variable.
    pub fn load(cfg: &AuthConfig, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        if cfg.mode != AuthMode::App {
            return Ok(Self::default());
        }
        let secret = match &cfg.app_secret_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| format!("auth.app_secret_file {}: {e}", p.display()))?
                    .trim()
                    .to_owned(),
            ),
            None => env(&cfg.app_secret_env).map(|s| s.trim().to_owned()),
        }
        .filter(|s| !s.is_empty());
        if secret.is_none() {
            return Err(format!(
                "auth.mode = \"app\" needs the app secret in ${} or auth.app_secret_file",
                cfg.app_secret_env
            ));
        }
        Ok(Self {
            app_code: cfg.app_code.clone(),
            app_secret: secret,
        })
    }
}

/// What to send upstream for this caller.
#[derive(Debug, Clone)]
pub struct UpstreamAuth {
    /// `X-Bkapi-Authorization` value (contains secrets).
    pub header: String,
    /// `X-Bk-Username` for `/api/v3/system/*` calls.
    pub system_user: Option<String>,
    /// Call `/api/v3/system/<resource>`.
    pub system_api: bool,
}

/// Build the upstream credentials for `caller` under `cfg`.
pub fn upstream_auth(
    cfg: &AuthConfig,
    app: &AppIdentity,
    caller: &Caller,
) -> Result<UpstreamAuth, ShimError> {
    let header = caller
        .header
        .as_ref()
        .map(AuthorizationHeader::to_header_value);
    let caller = &caller.credentials;
    match cfg.mode {
        AuthMode::Passthrough => Ok(UpstreamAuth {
            header: header.unwrap_or_else(|| caller.header_value()),
            system_user: None,
            system_api: false,
        }),
        AuthMode::App => {
            let secret = app.app_secret.clone().ok_or(ShimError::AppSecretMissing)?;
            let mut creds = Credentials {
                app_code: Some(app.app_code.clone()),
                app_secret: Some(secret),
                ..Credentials::default()
            };
            if cfg.system_api {
                // Never forwarded without a valid `X-Bk-Username`.
                let user = caller
                    .username
                    .clone()
                    .filter(|u| valid_user(u))
                    .ok_or(ShimError::UserRequired)?;
                return Ok(UpstreamAuth {
                    header: creds.header_value(),
                    system_user: Some(user),
                    system_api: true,
                });
            }
            // The user: a verified ticket when the caller has one, else the user name.
            if caller.access_token.is_some() {
                creds.access_token = caller.access_token.clone();
            } else if caller.bk_token.is_some() {
                creds.bk_token = caller.bk_token.clone();
            } else {
                creds.username = caller.username.clone();
            }
            Ok(UpstreamAuth {
                header: creds.header_value(),
                system_user: None,
                system_api: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn header_wins_entirely_but_body_is_still_stripped() {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION_HEADER,
            http::HeaderValue::from_static(r#"{"bk_app_code":"h","access_token":"t"}"#),
        );
        let mut body = obj(json!({"bk_app_code": "b", "bk_app_secret": "s", "bk_biz_id": 1}));
        let c = identify(&h, &Map::new(), &mut body, true).unwrap_or_default();
        assert_eq!(c.credentials.app_code.as_deref(), Some("h"));
        assert!(c.credentials.app_secret.is_none());
        assert_eq!(body.len(), 1);
        // Forwarded re-serialized.
        let a = upstream_auth(&AuthConfig::default(), &AppIdentity::default(), &c)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.header, r#"{"access_token":"t","bk_app_code":"h"}"#);
        assert!(!format!("{c:?}").contains("\"t\""));
    }

    #[test]
    fn bad_header_is_an_error() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION_HEADER, http::HeaderValue::from_static("nope"));
        let r = identify(&h, &Map::new(), &mut Map::new(), true);
        assert_eq!(r.err(), Some(ShimError::BadAuthHeader));
    }

    #[test]
    fn body_then_query_then_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            http::HeaderValue::from_static("a=1; bk_token=cookie-tok; c=3"),
        );
        let q = obj(json!({"bk_app_code": "q", "bk_username": "qu"}));
        let mut body = obj(json!({"bk_app_code": "b"}));
        let c = identify(&h, &q, &mut body.clone(), true).unwrap_or_default();
        let c = c.credentials;
        assert_eq!(c.app_code.as_deref(), Some("b"));
        assert_eq!(c.username.as_deref(), Some("qu"));
        assert_eq!(c.bk_token.as_deref(), Some("cookie-tok"));
        let c = identify(&h, &q, &mut body, false).unwrap_or_default();
        assert!(c.credentials.bk_token.is_none(), "cookie refused");
    }

    #[test]
    fn app_mode_uses_own_secret_and_callers_user() {
        let cfg = AuthConfig {
            mode: AuthMode::App,
            app_code: "shim".into(),
            ..AuthConfig::default()
        };
        let app = AppIdentity {
            app_code: "shim".into(),
            app_secret: Some("own".into()),
        };
        let caller = Caller {
            credentials: Credentials {
                app_code: Some("client".into()),
                app_secret: Some("client-secret".into()),
                username: Some("alice".into()),
                ..Credentials::default()
            },
            header: None,
            verified: false,
        };
        let a = upstream_auth(&cfg, &app, &caller).unwrap_or_else(|e| panic!("{e}"));
        let v: Value = serde_json::from_str(&a.header).unwrap_or_default();
        assert_eq!(
            v,
            json!({"bk_app_code": "shim", "bk_app_secret": "own", "bk_username": "alice"})
        );
        let sys = AuthConfig {
            system_api: true,
            ..cfg
        };
        let a = upstream_auth(&sys, &app, &caller).unwrap_or_else(|e| panic!("{e}"));
        assert!(a.system_api);
        assert_eq!(a.system_user.as_deref(), Some("alice"));
    }

    fn caller(user: Option<&str>) -> Caller {
        Caller {
            credentials: Credentials {
                app_code: Some("client".into()),
                username: user.map(str::to_owned),
                bk_token: Some("tok".into()),
                ..Credentials::default()
            },
            header: None,
            verified: false,
        }
    }

    #[test]
    fn strict_header_and_limits_are_enforced_on_every_source() {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION_HEADER,
            http::HeaderValue::from_static(r#"{"bk_app_code":"a","bk_app_code":"b"}"#),
        );
        let r = identify(&h, &Map::new(), &mut Map::new(), true);
        assert!(matches!(
            r,
            Err(ShimError::Credential(CredentialError::DuplicateKey(_)))
        ));
        let mut h = HeaderMap::new();
        h.append(
            AUTHORIZATION_HEADER,
            http::HeaderValue::from_static(r#"{"bk_app_code":"a"}"#),
        );
        h.append(
            AUTHORIZATION_HEADER,
            http::HeaderValue::from_static(r#"{"bk_app_code":"b"}"#),
        );
        let r = identify(&h, &Map::new(), &mut Map::new(), true);
        assert!(matches!(r, Err(ShimError::Credential(_))), "two headers");

        let mut body = obj(json!({"bk_app_code": "a", "bk_username": "u".repeat(100_000)}));
        let e = identify(&HeaderMap::new(), &Map::new(), &mut body, true).err();
        let reply = e.map(|e| e.reply(crate::config::ErrorStatus::Esb));
        assert_eq!(reply.as_ref().map(|r| r.code), Some(1_306_000));
        let msg = reply.map(|r| r.message).unwrap_or_default();
        assert!(msg.contains("[bk_username]") && msg.contains("64"), "{msg}");
        let q = obj(json!({"bk_app_secret": "has space"}));
        let e = identify(&HeaderMap::new(), &q, &mut Map::new(), true).err();
        assert!(matches!(
            e,
            Some(ShimError::Credential(CredentialError::BadChars { .. }))
        ));
    }

    #[test]
    fn a_jwt_without_a_user_never_lets_the_request_choose_one() {
        let id = |user: Option<&str>| JwtIdentity {
            app_code: "jwt-app".into(),
            username: user.map(str::to_owned),
            user_verified: false,
        };
        let mut c = caller(Some("body-user"));
        let e = c
            .set_verified_identity(&id(None), NoUserPolicy::Reject)
            .err();
        assert_eq!(e, Some(ShimError::Jwt(crate::jwt::JwtError::NoUser)));
        assert!(!c.is_verified());

        let mut c = caller(Some("body-user"));
        c.set_verified_identity(&id(None), NoUserPolicy::App)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.credentials.username.as_deref(), Some("jwt-app"));
        assert_eq!(
            c.credentials.bk_token, None,
            "the caller's ticket is dropped"
        );
        assert!(c.is_verified());

        let mut c = caller(Some("body-user"));
        c.set_verified_identity(&id(Some("alice")), NoUserPolicy::Reject)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.credentials.username.as_deref(), Some("alice"));
        assert_eq!(c.credentials.app_code.as_deref(), Some("jwt-app"));
    }

    #[test]
    fn system_api_needs_a_valid_user() {
        let cfg = AuthConfig {
            mode: AuthMode::App,
            app_code: "shim".into(),
            system_api: true,
            ..AuthConfig::default()
        };
        let app = AppIdentity {
            app_code: "shim".into(),
            app_secret: Some("own".into()),
        };
        for bad in [None, Some(""), Some(" alice"), Some("a\tb")] {
            let r = upstream_auth(&cfg, &app, &caller(bad));
            assert_eq!(r.err(), Some(ShimError::UserRequired), "{bad:?}");
        }
        let a = upstream_auth(&cfg, &app, &caller(Some("alice"))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.system_user.as_deref(), Some("alice"));
    }
}
