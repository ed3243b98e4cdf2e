//! Inbound JWT verification for `auth.mode = "app"` (DESIGN §4 decision 2).
//!
//! In `app` mode the shim signs every upstream call with its **own** app code and secret,
//! so the app code and user that a legacy caller *claims* are otherwise unverified: anyone
//! who can reach the shim could act as any app and any user. With `[auth.jwt] required =
//! true`, every caller must instead present a JWT signed by a trusted RSA key, in the shape
//! BlueKing itself issues (spec `bk-job-api.md` §6.2, `gateway-and-peers.md` §1.5), e.g.
//! when the shim is published behind an API gateway whose `bk-jwt` plugin adds
//! `X-Bkapi-JWT`, or by a trusted front end that mints the same claims.
//!
//! # Token
//!
//! * Taken from `X-Bkapi-JWT` (any case, e.g. `X-Bkapi-Jwt`), else from
//!   `Authorization: Bearer <token>`. Two `X-Bkapi-JWT` headers are rejected as malformed.
//! * Signature: RSA, `alg` one of `auth.jwt.algorithms` (default `RS512` and `RS256`);
//!   anything else (`HS*`, `none`, …) is rejected before any key is used.
//! * `exp` is required and checked; `nbf` is checked when present; both with
//!   `auth.jwt.leeway` (default 60 s) of clock skew.
//! * `iss` must be present, a JSON **string**, and equal when `auth.jwt.issuer` is set
//!   (BlueKing default `"APIGW"`); it is not checked otherwise. An array `iss` is refused.
//! * `aud` must be a JSON string equal to one of `auth.jwt.audience` when that list is not
//!   empty (an array `aud` is refused); it is not checked otherwise. Both are compared as
//!   exact strings, by the shim, not by the JWT library (which accepts arrays).
//! * Claims (APIGW and legacy ESB spellings):
//!   `app {app_code | bk_app_code, verified}` and `user {username | bk_username, verified}`.
//!   `app.verified` must be `true`; the app code is `app.app_code`, else `app.bk_app_code`
//!   (the first non-empty string), and must not be empty. The username is `user.username`,
//!   else `user.bk_username`, and may be absent or empty. `user.verified` is reported, not
//!   enforced (bk-job does not enforce it either, spec §6.3).
//!
//! # Semantics (wired in the proxy)
//!
//! When `auth.jwt.required` is true:
//!
//! * every request must carry a valid JWT; a missing or invalid one is answered with the
//!   legacy error `1306000` and the [`JwtError`] message;
//! * the JWT's app code **replaces** the app code the caller claims (body, query, header or
//!   cookie) for the allow-list, rate limiting and metrics;
//! * the JWT's username, when present, **replaces** the caller's `bk_username` (the
//!   upstream user, and `X-Bk-Username` with `auth.system_api = true`);
//! * a JWT without a user never lets the request choose one: with
//!   `auth.jwt.no_user = "reject"` (default) the request is refused (`1306000`), with
//!   `"app"` the JWT's app code is used as the user (the operator); the caller's
//!   `bk_username`, `bk_token` and `access_token` are dropped in both cases.
//!
//! The verifier is built once per configuration ([`JwtVerifier::from_config`]): the key is
//! read and parsed once. No error message or log line carries the token or the key.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Request header BlueKing's API gateway uses to pass its JWT to a backend.
pub const JWT_HEADER: &str = "x-bkapi-jwt";

/// Longest token accepted; longer ones are rejected as malformed before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A JWS algorithm accepted for inbound tokens (RSA family only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512 (what BlueKing APIGW and ESB sign with).
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
}

impl From<JwtAlgorithm> for Algorithm {
    fn from(a: JwtAlgorithm) -> Self {
        match a {
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::RS384 => Algorithm::RS384,
            JwtAlgorithm::RS512 => Algorithm::RS512,
            JwtAlgorithm::PS256 => Algorithm::PS256,
            JwtAlgorithm::PS384 => Algorithm::PS384,
            JwtAlgorithm::PS512 => Algorithm::PS512,
        }
    }
}

/// `[auth.jwt]`: require callers to present a JWT signed by a trusted key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// Require a valid JWT on every request.
    pub required: bool,
    /// PEM file with the RSA public key that signs the tokens
    /// (`-----BEGIN PUBLIC KEY-----` or `-----BEGIN RSA PUBLIC KEY-----`).
    pub public_key_file: Option<PathBuf>,
    /// Required `iss` claim (BlueKing's default is `"APIGW"`); unset = not checked.
    pub issuer: Option<String>,
    /// Accepted `aud` values; empty (default) = not checked.
    pub audience: Vec<String>,
    /// What a token without a user means (see the module docs). Default `reject`.
    pub no_user: NoUserPolicy,
    /// Accepted `alg` values. Default `["RS512", "RS256"]`.
    pub algorithms: Vec<JwtAlgorithm>,
    /// Clock-skew allowance for `exp` and `nbf`, as a humantime string. Default `60s`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            required: false,
            public_key_file: None,
            issuer: None,
            audience: Vec::new(),
            no_user: NoUserPolicy::Reject,
            algorithms: vec![JwtAlgorithm::RS512, JwtAlgorithm::RS256],
            leeway: Duration::from_secs(60),
        }
    }
}

/// `auth.jwt.no_user`: what a valid JWT without a user means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoUserPolicy {
    /// Refuse the request (`1306000`).
    #[default]
    Reject,
    /// Use the JWT's app code as the user (the operator of the job).
    App,
}

/// Why a request's JWT was not accepted. Messages never contain the token or the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// No `X-Bkapi-JWT` header and no `Authorization: Bearer` token.
    #[error("JWT required: send it in the X-Bkapi-JWT header or as Authorization: Bearer")]
    Missing,
    /// The token is not a well-formed JWT (or has unusable claims).
    #[error("JWT is malformed")]
    Malformed,
    /// The signature does not verify with the trusted key, or `alg` is not accepted.
    #[error("JWT signature is invalid or its algorithm is not accepted")]
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    #[error("JWT has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("JWT is not valid yet")]
    NotYetValid,
    /// `iss` is missing or not the configured issuer.
    #[error("JWT issuer is missing or not accepted")]
    WrongIssuer,
    /// `aud` is missing, not a string, or not one of `auth.jwt.audience`.
    #[error("JWT audience is missing or not accepted")]
    WrongAudience,
    /// The token names no user and `auth.jwt.no_user = "reject"`.
    #[error("JWT carries no user and this shim requires one")]
    NoUser,
    /// `app.verified` is not `true`.
    #[error("JWT app is not verified")]
    AppNotVerified,
    /// Neither `app.app_code` nor `app.bk_app_code` is a non-empty string.
    #[error("JWT carries no app code")]
    NoAppCode,
}

impl JwtError {
    /// Short, bounded label for metrics and logs (`missing`, `malformed`, …).
    pub fn reason(self) -> &'static str {
        match self {
            JwtError::Missing => "missing",
            JwtError::Malformed => "malformed",
            JwtError::BadSignature => "bad_signature",
            JwtError::Expired => "expired",
            JwtError::NotYetValid => "not_yet_valid",
            JwtError::WrongIssuer => "wrong_issuer",
            JwtError::WrongAudience => "wrong_audience",
            JwtError::NoUser => "no_user",
            JwtError::AppNotVerified => "app_not_verified",
            JwtError::NoAppCode => "no_app_code",
        }
    }
}

/// The verified caller identity carried by a JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtIdentity {
    /// `app.app_code`, else `app.bk_app_code`; never empty.
    pub app_code: String,
    /// `user.username`, else `user.bk_username`; `None` when absent or empty.
    pub username: Option<String>,
    /// `user.verified` (false when absent).
    pub user_verified: bool,
}

/// Verifies inbound JWTs against one trusted RSA public key. Build once per configuration.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    issuer: Option<String>,
    audience: Vec<String>,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.validation.leeway)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Builds the verifier: `Ok(None)` when `cfg.required` is false; an error when it is
    /// required but the key file is unset, unreadable or not an RSA public key PEM, or the
    /// configuration is otherwise unusable (see [`problems`]).
    pub fn from_config(cfg: &JwtConfig) -> Result<Option<JwtVerifier>, String> {
        if !cfg.required {
            return Ok(None);
        }
        if let Some(p) = settings_problems(cfg).into_iter().next() {
            return Err(p);
        }
        let path = cfg.public_key_file.as_deref().ok_or_else(|| {
            "auth.jwt.public_key_file is required when auth.jwt.required = true".to_owned()
        })?;
        let key = load_key(path)?;
        let mut validation = Validation::new(Algorithm::RS512);
        validation.algorithms = cfg.algorithms.iter().map(|&a| a.into()).collect();
        validation.leeway = cfg.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        // `iss` and `aud` are checked by `registered_claims`, as strings only.
        validation.set_required_spec_claims(&["exp"]);
        Ok(Some(JwtVerifier {
            key,
            validation,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
        }))
    }

    /// Verifies the request's JWT and returns the identity it carries.
    pub fn verify(&self, headers: &http::HeaderMap) -> Result<JwtIdentity, JwtError> {
        let token = token_from_headers(headers)?;
        self.verify_token(token)
    }

    /// Verifies a bare token (as found by [`JwtVerifier::verify`]).
    pub fn verify_token(&self, token: &str) -> Result<JwtIdentity, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed);
        }
        let data = jsonwebtoken::decode::<Value>(token, &self.key, &self.validation)
            .map_err(|e| map_error(e.kind()))?;
        self.registered_claims(&data.claims)?;
        identity_from_claims(&data.claims)
    }
}

impl JwtVerifier {
    /// `iss` and `aud`, compared as exact JSON strings (arrays are refused).
    fn registered_claims(&self, claims: &Value) -> Result<(), JwtError> {
        if let Some(iss) = &self.issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(iss.as_str()) {
                return Err(JwtError::WrongIssuer);
            }
        }
        if !self.audience.is_empty() {
            let aud = claims.get("aud").and_then(Value::as_str);
            if !aud.is_some_and(|a| self.audience.iter().any(|x| x == a)) {
                return Err(JwtError::WrongAudience);
            }
        }
        Ok(())
    }
}

/// Configuration problems for `check-config`: a required JWT without a key file, an
/// unreadable or invalid key, no algorithms, an empty issuer. Empty when all is well.
pub fn problems(cfg: &JwtConfig) -> Vec<String> {
    let mut p = settings_problems(cfg);
    if cfg.required {
        match cfg.public_key_file.as_deref() {
            None => p.push(
                "auth.jwt.public_key_file is required when auth.jwt.required = true".to_owned(),
            ),
            Some(path) => {
                if let Err(e) = load_key(path) {
                    p.push(e);
                }
            }
        }
    }
    p
}

fn settings_problems(cfg: &JwtConfig) -> Vec<String> {
    let mut p = Vec::new();
    if cfg.algorithms.is_empty() {
        p.push("auth.jwt.algorithms must list at least one algorithm (e.g. \"RS512\")".to_owned());
    }
    if cfg.issuer.as_deref().is_some_and(|i| i.trim().is_empty()) {
        p.push("auth.jwt.issuer must not be empty (omit it to skip the check)".to_owned());
    }
    if cfg.audience.iter().any(|a| a.trim().is_empty()) {
        p.push("auth.jwt.audience must not contain an empty string".to_owned());
    }
    p
}

/// Reads and parses the RSA public key (SPKI or PKCS#1 PEM). Errors name the file only.
fn load_key(path: &Path) -> Result<DecodingKey, String> {
    let shown = path.display();
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("auth.jwt.public_key_file `{shown}`: cannot read: {e}"))?;
    let pem = pem.trim();
    let key = rsa::RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem))
        .map_err(|_| {
            format!(
                "auth.jwt.public_key_file `{shown}`: not an RSA public key PEM \
                 (expected -----BEGIN PUBLIC KEY----- or -----BEGIN RSA PUBLIC KEY-----)"
            )
        })?;
    Ok(DecodingKey::from_rsa_raw_components(
        &key.n().to_bytes_be(),
        &key.e().to_bytes_be(),
    ))
}

/// Finds the token: `X-Bkapi-JWT`, else `Authorization: Bearer <token>`.
fn token_from_headers(headers: &http::HeaderMap) -> Result<&str, JwtError> {
    let mut jwt = headers.get_all(JWT_HEADER).iter();
    if let Some(v) = jwt.next() {
        if jwt.next().is_some() {
            return Err(JwtError::Malformed);
        }
        let t = v.to_str().map_err(|_| JwtError::Malformed)?.trim();
        return if t.is_empty() {
            Err(JwtError::Missing)
        } else {
            Ok(t)
        };
    }
    for v in headers.get_all(http::header::AUTHORIZATION) {
        let Ok(v) = v.to_str() else { continue };
        let v = v.trim_start();
        let Some((scheme, rest)) = v.split_once(' ') else {
            continue;
        };
        if scheme.eq_ignore_ascii_case("bearer") {
            let t = rest.trim();
            return if t.is_empty() {
                Err(JwtError::Missing)
            } else {
                Ok(t)
            };
        }
    }
    Err(JwtError::Missing)
}

fn map_error(kind: &ErrorKind) -> JwtError {
    match kind {
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(c) if c == "iss" => JwtError::WrongIssuer,
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_)
        | ErrorKind::MissingRequiredClaim(_)
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName => JwtError::Malformed,
        // InvalidSignature, InvalidAlgorithm (alg not accepted) and anything a future
        // jsonwebtoken adds: fail closed.
        _ => JwtError::BadSignature,
    }
}

/// First non-empty string among `obj[keys…]`.
fn first_str<'a>(obj: Option<&'a Value>, keys: &[&str]) -> Option<&'a str> {
    let obj = obj?;
    keys.iter()
        .filter_map(|k| obj.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .find(|s| !s.is_empty())
}

fn identity_from_claims(claims: &Value) -> Result<JwtIdentity, JwtError> {
    let app = claims.get("app").filter(|a| a.is_object());
    if app.and_then(|a| a.get("verified")).and_then(Value::as_bool) != Some(true) {
        return Err(JwtError::AppNotVerified);
    }
    let app_code = first_str(app, &["app_code", "bk_app_code"]).ok_or(JwtError::NoAppCode)?;
    let user = claims.get("user").filter(|u| u.is_object());
    Ok(JwtIdentity {
        app_code: app_code.to_owned(),
        username: first_str(user, &["username", "bk_username"]).map(str::to_owned),
        user_verified: user
            .and_then(|u| u.get("verified"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};
    use serde_json::json;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/jwt")
            .join(name)
    }

    fn required(key: &str) -> JwtConfig {
        JwtConfig {
            required: true,
            public_key_file: Some(fixture(key)),
            ..JwtConfig::default()
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn config_defaults_and_toml() {
        let d = JwtConfig::default();
        assert!(!d.required);
        assert_eq!(d.algorithms, [JwtAlgorithm::RS512, JwtAlgorithm::RS256]);
        assert_eq!(d.leeway, Duration::from_secs(60));
        let c: JwtConfig = toml::from_str(
            r#"required = true
public_key_file = "/etc/k.pem"
issuer = "APIGW"
algorithms = ["RS512"]
leeway = "2m""#,
        )
        .unwrap();
        assert_eq!(c.issuer.as_deref(), Some("APIGW"));
        assert_eq!(c.algorithms, [JwtAlgorithm::RS512]);
        assert_eq!(c.leeway, Duration::from_secs(120));
        assert!(toml::from_str::<JwtConfig>(r#"algorithms = ["HS256"]"#).is_err());
        assert!(toml::from_str::<JwtConfig>("nope = 1").is_err());
        let partial: JwtConfig = toml::from_str("required = true").unwrap();
        assert_eq!(partial.algorithms, d.algorithms);
    }

    #[test]
    fn not_required_builds_nothing() {
        assert!(
            JwtVerifier::from_config(&JwtConfig::default())
                .unwrap()
                .is_none()
        );
        assert!(problems(&JwtConfig::default()).is_empty());
    }

    #[test]
    fn key_formats() {
        for k in ["public.pem", "public_pkcs1.pem", "other_public.pem"] {
            assert!(problems(&required(k)).is_empty(), "{k}");
            let v = JwtVerifier::from_config(&required(k)).unwrap().unwrap();
            assert!(format!("{v:?}").contains("RS512"));
        }
    }

    #[test]
    fn key_problems() {
        let mut c = required("public.pem");
        c.public_key_file = None;
        let p = problems(&c);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("public_key_file is required"), "{p:?}");
        assert!(JwtVerifier::from_config(&c).is_err());

        let c = required("does-not-exist.pem");
        assert!(problems(&c)[0].contains("cannot read"));
        assert!(
            JwtVerifier::from_config(&c)
                .unwrap_err()
                .contains("cannot read")
        );

        // A private key is not a public key, and its bytes never appear in the message.
        let c = required("private.pem");
        let e = JwtVerifier::from_config(&c).unwrap_err();
        assert!(e.contains("not an RSA public key PEM"), "{e}");
        assert!(!e.contains("MII"), "{e}");

        let mut c = required("public.pem");
        c.algorithms.clear();
        c.issuer = Some(" ".into());
        assert_eq!(problems(&c).len(), 2);
        assert!(JwtVerifier::from_config(&c).is_err());
    }

    #[test]
    fn token_sources() {
        let h = headers(&[("X-Bkapi-Jwt", " a.b.c ")]);
        assert_eq!(token_from_headers(&h), Ok("a.b.c"));
        let h = headers(&[("authorization", "bearer  x.y.z")]);
        assert_eq!(token_from_headers(&h), Ok("x.y.z"));
        let h = headers(&[("x-bkapi-jwt", "a.b.c"), ("authorization", "Bearer x.y.z")]);
        assert_eq!(token_from_headers(&h), Ok("a.b.c"));
        let h = headers(&[("authorization", "Basic Zm9vOmJhcg==")]);
        assert_eq!(token_from_headers(&h), Err(JwtError::Missing));
        let h = headers(&[("authorization", "Bearer ")]);
        assert_eq!(token_from_headers(&h), Err(JwtError::Missing));
        let h = headers(&[("x-bkapi-jwt", "")]);
        assert_eq!(token_from_headers(&h), Err(JwtError::Missing));
        assert_eq!(
            token_from_headers(&HeaderMap::new()),
            Err(JwtError::Missing)
        );
        let h = headers(&[("x-bkapi-jwt", "a.b.c"), ("x-bkapi-jwt", "d.e.f")]);
        assert_eq!(token_from_headers(&h), Err(JwtError::Malformed));
        let mut h = HeaderMap::new();
        h.insert(JWT_HEADER, HeaderValue::from_bytes(b"a.\xffb.c").unwrap());
        assert_eq!(token_from_headers(&h), Err(JwtError::Malformed));
    }

    #[test]
    fn oversized_and_garbage_tokens() {
        let v = JwtVerifier::from_config(&required("public.pem"))
            .unwrap()
            .unwrap();
        let big = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(v.verify_token(&big), Err(JwtError::Malformed));
        for t in ["garbage", "a.b.c", "a.b", "..", "eyJhbGciOiJub25lIn0.e30."] {
            assert_eq!(v.verify_token(t), Err(JwtError::Malformed), "{t}");
        }
    }

    #[test]
    fn claims_mapping() {
        let id = identity_from_claims(&json!({
            "app": {"version": 1, "app_code": "app-a", "verified": true},
            "user": {"version": 1, "username": "alice", "verified": true}
        }))
        .unwrap();
        assert_eq!(
            id,
            JwtIdentity {
                app_code: "app-a".into(),
                username: Some("alice".into()),
                user_verified: true
            }
        );
        // Legacy ESB spellings, and an empty app_code falls back.
        let id = identity_from_claims(&json!({
            "app": {"app_code": "", "bk_app_code": "esb-app", "verified": true},
            "user": {"bk_username": "bob", "verified": false}
        }))
        .unwrap();
        assert_eq!(id.app_code, "esb-app");
        assert_eq!(id.username.as_deref(), Some("bob"));
        assert!(!id.user_verified);
        // No user at all / empty username.
        let id =
            identity_from_claims(&json!({"app": {"app_code": "a", "verified": true}})).unwrap();
        assert_eq!(id.username, None);
        let id = identity_from_claims(&json!({
            "app": {"app_code": "a", "verified": true},
            "user": {"username": "", "verified": false}
        }))
        .unwrap();
        assert_eq!(id.username, None);

        for bad in [
            json!({}),
            json!({"app": "x"}),
            json!({"app": {"app_code": "a"}}),
            json!({"app": {"app_code": "a", "verified": false}}),
            json!({"app": {"app_code": "a", "verified": "true"}}),
        ] {
            assert_eq!(
                identity_from_claims(&bad),
                Err(JwtError::AppNotVerified),
                "{bad}"
            );
        }
        for bad in [
            json!({"app": {"verified": true}}),
            json!({"app": {"app_code": " ", "bk_app_code": "", "verified": true}}),
            json!({"app": {"app_code": 7, "verified": true}}),
        ] {
            assert_eq!(
                identity_from_claims(&bad),
                Err(JwtError::NoAppCode),
                "{bad}"
            );
        }
    }

    #[test]
    fn error_kinds_map() {
        assert_eq!(map_error(&ErrorKind::ExpiredSignature), JwtError::Expired);
        assert_eq!(
            map_error(&ErrorKind::ImmatureSignature),
            JwtError::NotYetValid
        );
        assert_eq!(map_error(&ErrorKind::InvalidIssuer), JwtError::WrongIssuer);
        assert_eq!(
            map_error(&ErrorKind::MissingRequiredClaim("iss".into())),
            JwtError::WrongIssuer
        );
        assert_eq!(
            map_error(&ErrorKind::MissingRequiredClaim("exp".into())),
            JwtError::Malformed
        );
        assert_eq!(
            map_error(&ErrorKind::InvalidSignature),
            JwtError::BadSignature
        );
        assert_eq!(
            map_error(&ErrorKind::InvalidAlgorithm),
            JwtError::BadSignature
        );
    }

    #[test]
    fn reasons_are_distinct() {
        let all = [
            JwtError::Missing,
            JwtError::Malformed,
            JwtError::BadSignature,
            JwtError::Expired,
            JwtError::NotYetValid,
            JwtError::WrongIssuer,
            JwtError::WrongAudience,
            JwtError::NoUser,
            JwtError::AppNotVerified,
            JwtError::NoAppCode,
        ];
        let set: std::collections::HashSet<_> = all.iter().map(|e| e.reason()).collect();
        assert_eq!(set.len(), all.len());
    }
}
