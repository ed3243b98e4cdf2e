//! Inbound JWT verification (`src/jwt.rs`) against tokens signed here with the test keys in
//! `tests/fixtures/jwt/`, shaped like the ones BlueKing's API gateway (and legacy ESB) issue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bk_job_shim::jwt::{JwtAlgorithm, JwtConfig, JwtError, JwtIdentity, JwtVerifier, problems};
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

/// The private key as jsonwebtoken wants it without `use_pem`: PKCS#1 DER.
fn signing_key(name: &str) -> EncodingKey {
    let pem = std::fs::read_to_string(fixture(name)).unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap();
    EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
}

fn config() -> JwtConfig {
    JwtConfig {
        required: true,
        public_key_file: Some(fixture("public.pem")),
        ..JwtConfig::default()
    }
}

fn verifier(cfg: &JwtConfig) -> JwtVerifier {
    JwtVerifier::from_config(cfg).unwrap().unwrap()
}

fn now() -> i64 {
    i64::try_from(get_current_timestamp()).unwrap()
}

/// Claims as APIGW's `bk-jwt` plugin mints them.
fn apigw_claims() -> Value {
    json!({
        "iss": "APIGW",
        "nbf": now() - 300,
        "exp": now() + 1500,
        "app": {"version": 1, "app_code": "trusted-app", "verified": true, "valid_error_message": ""},
        "user": {"version": 1, "username": "alice", "verified": true, "valid_error_message": ""}
    })
}

fn sign_with(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some("bk-job".into());
    encode(&header, claims, key).unwrap()
}

fn sign(claims: &Value) -> String {
    sign_with(Algorithm::RS512, &signing_key("private.pem"), claims)
}

fn jwt_header(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("X-Bkapi-Jwt", HeaderValue::from_str(token).unwrap());
    h
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    h
}

/// Verifies `token` and, on failure, checks the message carries no token material.
fn check(v: &JwtVerifier, token: &str) -> Result<JwtIdentity, JwtError> {
    let r = v.verify(&jwt_header(token));
    if let Err(e) = &r {
        assert_no_token_material(&e.to_string(), token);
        assert_no_token_material(&format!("{e:?}"), token);
    }
    r
}

fn assert_no_token_material(msg: &str, token: &str) {
    for part in token.split('.').filter(|p| p.len() >= 8) {
        for window in part.as_bytes().windows(8) {
            let w = std::str::from_utf8(window).unwrap();
            assert!(
                !msg.contains(w),
                "message {msg:?} leaks token material {w:?}"
            );
        }
    }
    assert!(
        !msg.contains("MII"),
        "message {msg:?} looks like key material"
    );
}

fn alice() -> JwtIdentity {
    JwtIdentity {
        app_code: "trusted-app".into(),
        username: Some("alice".into()),
        user_verified: true,
    }
}

#[test]
fn valid_token_in_x_bkapi_jwt() {
    let v = verifier(&config());
    assert_eq!(check(&v, &sign(&apigw_claims())), Ok(alice()));
}

#[test]
fn valid_token_as_bearer() {
    let v = verifier(&config());
    let t = sign(&apigw_claims());
    assert_eq!(v.verify(&bearer(&t)), Ok(alice()));
}

#[test]
fn x_bkapi_jwt_wins_over_bearer() {
    let v = verifier(&config());
    let mut other = apigw_claims();
    other["app"]["app_code"] = json!("bearer-app");
    let mut h = jwt_header(&sign(&apigw_claims()));
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {}", sign(&other))).unwrap(),
    );
    assert_eq!(v.verify(&h).unwrap().app_code, "trusted-app");
}

#[test]
fn rs256_accepted_by_default_rs384_not() {
    let v = verifier(&config());
    let key = signing_key("private.pem");
    let t = sign_with(Algorithm::RS256, &key, &apigw_claims());
    assert_eq!(check(&v, &t), Ok(alice()));
    let t = sign_with(Algorithm::RS384, &key, &apigw_claims());
    assert_eq!(check(&v, &t), Err(JwtError::BadSignature));

    let mut cfg = config();
    cfg.algorithms = vec![JwtAlgorithm::RS512];
    let t = sign_with(Algorithm::RS256, &key, &apigw_claims());
    assert_eq!(check(&verifier(&cfg), &t), Err(JwtError::BadSignature));
}

#[test]
fn pkcs1_public_key_file_works() {
    let mut cfg = config();
    cfg.public_key_file = Some(fixture("public_pkcs1.pem"));
    assert_eq!(check(&verifier(&cfg), &sign(&apigw_claims())), Ok(alice()));
}

#[test]
fn expired() {
    let v = verifier(&config());
    let mut c = apigw_claims();
    c["exp"] = json!(now() - 120);
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::Expired));
    // Within the default 60 s leeway.
    c["exp"] = json!(now() - 30);
    assert_eq!(
        check(&v, &sign(&c)).map(|i| i.app_code),
        Ok("trusted-app".into())
    );
    // With no leeway it is expired.
    let mut cfg = config();
    cfg.leeway = Duration::ZERO;
    assert_eq!(check(&verifier(&cfg), &sign(&c)), Err(JwtError::Expired));
}

#[test]
fn not_yet_valid() {
    let v = verifier(&config());
    let mut c = apigw_claims();
    c["nbf"] = json!(now() + 600);
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::NotYetValid));
    c["nbf"] = json!(now() + 30);
    assert!(check(&v, &sign(&c)).is_ok(), "within leeway");
}

#[test]
fn exp_is_required() {
    let v = verifier(&config());
    let mut c = apigw_claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::Malformed));
    // A non-numeric exp is not "no exp" (jsonwebtoken ≥ 10.3 type-confusion fix).
    c["exp"] = json!((now() + 600).to_string());
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::Malformed));
}

#[test]
fn wrong_key() {
    let v = verifier(&config());
    let t = sign_with(
        Algorithm::RS512,
        &signing_key("other_private.pem"),
        &apigw_claims(),
    );
    assert_eq!(check(&v, &t), Err(JwtError::BadSignature));
    // …which verifies with its own public key.
    let mut cfg = config();
    cfg.public_key_file = Some(fixture("other_public.pem"));
    assert_eq!(check(&verifier(&cfg), &t), Ok(alice()));
}

#[test]
fn tampered_payload() {
    let v = verifier(&config());
    let t = sign(&apigw_claims());
    let parts: Vec<&str> = t.split('.').collect();
    let mut c = apigw_claims();
    c["app"]["app_code"] = json!("evil-app");
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(check(&v, &forged), Err(JwtError::BadSignature));
    // A flipped signature byte as well.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let forged = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(check(&v, &forged), Err(JwtError::BadSignature));
}

#[test]
fn algorithm_confusion_rejected() {
    let v = verifier(&config());
    // HS512 "signed" with the public key PEM as the HMAC secret.
    let public = std::fs::read(fixture("public.pem")).unwrap();
    let t = sign_with(
        Algorithm::HS512,
        &EncodingKey::from_secret(&public),
        &apigw_claims(),
    );
    assert_eq!(check(&v, &t), Err(JwtError::BadSignature));
    // alg "none" with an empty signature.
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&apigw_claims()).unwrap());
    assert_eq!(
        check(&v, &format!("{head}.{body}.")),
        Err(JwtError::Malformed)
    );
}

#[test]
fn app_not_verified() {
    let v = verifier(&config());
    let mut c = apigw_claims();
    c["app"]["verified"] = json!(false);
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::AppNotVerified));
    c.as_object_mut().unwrap().remove("app");
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::AppNotVerified));
}

#[test]
fn missing_app_code() {
    let v = verifier(&config());
    let mut c = apigw_claims();
    c["app"] = json!({"version": 1, "verified": true});
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::NoAppCode));
    c["app"] = json!({"app_code": "", "verified": true});
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::NoAppCode));
}

#[test]
fn legacy_esb_claims_fall_back() {
    let v = verifier(&config());
    // Legacy ESB: bk_app_code / bk_username, exp = now + 900.
    let c = json!({
        "iss": "APIGW",
        "nbf": now() - 300,
        "exp": now() + 900,
        "app": {"bk_app_code": "esb-app", "verified": true},
        "user": {"bk_username": "bob", "verified": false}
    });
    assert_eq!(
        check(&v, &sign(&c)),
        Ok(JwtIdentity {
            app_code: "esb-app".into(),
            username: Some("bob".into()),
            user_verified: false,
        })
    );
}

#[test]
fn username_may_be_empty() {
    let v = verifier(&config());
    let mut c = apigw_claims();
    c["user"] = json!({"version": 1, "username": "", "verified": false});
    let id = check(&v, &sign(&c)).unwrap();
    assert_eq!(id.app_code, "trusted-app");
    assert_eq!(id.username, None);
    assert!(!id.user_verified);
}

#[test]
fn issuer_checked_when_configured() {
    let mut cfg = config();
    cfg.issuer = Some("APIGW".into());
    let v = verifier(&cfg);
    assert_eq!(check(&v, &sign(&apigw_claims())), Ok(alice()));
    let mut c = apigw_claims();
    c["iss"] = json!("someone-else");
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::WrongIssuer));
    c.as_object_mut().unwrap().remove("iss");
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::WrongIssuer));
    // Without `issuer` configured, any or no iss is fine.
    assert!(check(&verifier(&config()), &sign(&c)).is_ok());
}

#[test]
fn issuer_as_an_array_is_refused() {
    let mut cfg = config();
    cfg.issuer = Some("APIGW".into());
    let v = verifier(&cfg);
    let mut c = apigw_claims();
    c["iss"] = json!(["APIGW"]);
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::WrongIssuer));
    c["iss"] = json!(["other", "APIGW"]);
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::WrongIssuer));
    c["iss"] = json!({"APIGW": true});
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::WrongIssuer));
}

#[test]
fn audience_checked_as_a_string_when_configured() {
    let mut cfg = config();
    cfg.audience = vec!["bk-job-shim".into(), "shim-b".into()];
    let v = verifier(&cfg);
    let mut c = apigw_claims();
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::WrongAudience), "no aud");
    c["aud"] = json!("bk-job-shim");
    assert_eq!(check(&v, &sign(&c)), Ok(alice()));
    c["aud"] = json!("shim-b");
    assert_eq!(check(&v, &sign(&c)), Ok(alice()));
    c["aud"] = json!("other");
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::WrongAudience));
    c["aud"] = json!(["bk-job-shim"]);
    assert_eq!(check(&v, &sign(&c)), Err(JwtError::WrongAudience));
    // Not configured: aud is not looked at.
    assert!(check(&verifier(&config()), &sign(&c)).is_ok());
    let parsed: JwtConfig = toml::from_str(
        "required = true\npublic_key_file = \"k.pem\"\naudience = [\"a\"]\nno_user = \"app\"",
    )
    .unwrap();
    assert_eq!(parsed.audience, ["a"]);
    assert_eq!(parsed.no_user, bk_job_shim::jwt::NoUserPolicy::App);
}

#[test]
fn missing_header() {
    let v = verifier(&config());
    assert_eq!(v.verify(&HeaderMap::new()), Err(JwtError::Missing));
    let mut h = HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_static("Basic dXNlcjpwYXNz"),
    );
    assert_eq!(v.verify(&h), Err(JwtError::Missing));
}

#[test]
fn garbage_token() {
    let v = verifier(&config());
    for t in ["garbage", "not.a.jwt", "a.b.c.d"] {
        assert_eq!(check(&v, t), Err(JwtError::Malformed), "{t}");
    }
    assert_eq!(v.verify(&bearer("garbage")), Err(JwtError::Malformed));
    // A well-formed RS512 header with junk after it fails at the signature.
    assert_eq!(
        check(&v, "eyJhbGciOiJSUzUxMiJ9.%%%.abc"),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn messages_carry_no_token_material() {
    let v = verifier(&config());
    let key = signing_key("private.pem");
    let other = signing_key("other_private.pem");
    let mut expired = apigw_claims();
    expired["exp"] = json!(now() - 3600);
    let mut unverified = apigw_claims();
    unverified["app"]["verified"] = json!(false);
    for t in [
        sign_with(Algorithm::RS512, &other, &apigw_claims()),
        sign_with(Algorithm::RS512, &key, &expired),
        sign_with(Algorithm::RS512, &key, &unverified),
        "eyJhbGciOiJSUzUxMiJ9.eyJzZWNyZXQiOiJodW50ZXIyIn0.c2lnbmF0dXJl".to_owned(),
    ] {
        let e = check(&v, &t).unwrap_err();
        assert!(!e.to_string().contains("alice"));
        assert!(!e.to_string().contains("trusted-app"));
    }
}

#[test]
fn config_validation() {
    assert!(problems(&config()).is_empty());
    let mut cfg = config();
    cfg.public_key_file = None;
    assert!(!problems(&cfg).is_empty());
    assert!(JwtVerifier::from_config(&cfg).is_err());
    cfg.public_key_file = Some(fixture("private.pem"));
    let p = problems(&cfg);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(!p[0].contains("MII"), "{p:?}");
    cfg.required = false;
    assert!(JwtVerifier::from_config(&cfg).unwrap().is_none());
}
