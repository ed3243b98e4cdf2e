//! Identity through the server: inbound JWT in app mode, the system API, a verbatim
//! `X-Bkapi-Authorization`, and the cross-site protections (GET only for queries, the
//! `bk_token` cookie only with JSON or GET).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use bk_job_shim::config::{AuthMode, ErrorStatus};
use harness::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};

const EXECUTE: &str = "/api/c/compapi/v2/job/execute_job/";

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

fn token(app: &str, user: &str) -> String {
    let pem = std::fs::read_to_string(fixture("private.pem")).unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap();
    let key = EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes());
    let now = get_current_timestamp();
    let claims = json!({
        "iss": "APIGW", "nbf": now - 300, "exp": now + 900,
        "app": {"version": 1, "app_code": app, "verified": true},
        "user": {"version": 1, "username": user, "verified": true}
    });
    encode(&Header::new(Algorithm::RS512), &claims, &key).unwrap()
}

fn started() -> Behavior {
    Behavior::ok(json!({"job_instance_id": 1, "job_instance_name": "n"}))
}

fn auth_of(r: &Recorded) -> Value {
    serde_json::from_str(&r.header("x-bkapi-authorization").unwrap()).unwrap()
}

#[tokio::test]
async fn app_mode_with_jwt_uses_the_verified_identity() {
    let mock = MockUpstream::start(started()).await;
    let secret = temp_file("secret", "shim-secret");
    let mut cfg = test_config(&mock.url());
    cfg.auth.mode = AuthMode::App;
    cfg.auth.app_code = "shim-app".into();
    cfg.auth.app_secret_file = Some(secret);
    cfg.auth.system_api = true;
    cfg.auth.allowed_apps = vec!["real-app".into()];
    cfg.auth.jwt.required = true;
    cfg.auth.jwt.public_key_file = Some(fixture("public.pem"));
    cfg.legacy.error_status = ErrorStatus::Gateway;
    let shim = start_shim(cfg).await;

    // The body claims another app and user: the JWT's identity wins.
    let body =
        json!({"bk_app_code": "spoofed", "bk_username": "admin", "bk_biz_id": 1, "bk_job_id": 1});
    let t = token("real-app", "alice");
    let a = send(
        shim.addr,
        "POST",
        EXECUTE,
        &body.to_string(),
        &[("X-Bkapi-JWT", &t)],
    )
    .await;
    assert_eq!(a.code(), 0, "{:?}", a.body);
    let r = &mock.requests()[0];
    assert_eq!(r.path, "/api/bk-job/prod/api/v3/system/execute_job_plan");
    assert_eq!(r.header("x-bk-username").as_deref(), Some("alice"));
    assert_eq!(
        auth_of(r),
        json!({"bk_app_code": "shim-app", "bk_app_secret": "shim-secret"})
    );
    assert!(
        r.header("x-bkapi-jwt").is_none(),
        "the inbound token is not forwarded"
    );

    // Bearer works too; no token or a bad one is refused before anything is read or sent.
    let bearer = format!("Bearer {}", token("real-app", "bob"));
    assert_eq!(
        send(
            shim.addr,
            "POST",
            EXECUTE,
            &body.to_string(),
            &[("Authorization", &bearer)]
        )
        .await
        .code(),
        0
    );
    let missing = send(shim.addr, "POST", EXECUTE, &body.to_string(), &[]).await;
    assert_eq!((missing.status, missing.code()), (401, 1306000));
    let forged = send(
        shim.addr,
        "POST",
        EXECUTE,
        &body.to_string(),
        &[("X-Bkapi-JWT", "eyJhbGciOiJSUzUxMiJ9.e30.AAAA")],
    )
    .await;
    assert_eq!((forged.status, forged.code()), (401, 1306000));
    // A verified app that is not allowed is still denied.
    let other = token("other-app", "carol");
    assert_eq!(
        send(
            shim.addr,
            "POST",
            EXECUTE,
            &body.to_string(),
            &[("X-Bkapi-JWT", &other)]
        )
        .await
        .code(),
        1306403
    );
    assert_eq!(mock.requests().len(), 2);
    shim.shutdown().await;
}

#[tokio::test]
async fn incoming_authorization_header_is_parsed_strictly_and_re_serialized() {
    let mock = MockUpstream::start(started()).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let body = json!({"bk_biz_id": 1, "bk_job_id": 1}).to_string();
    let header = r#"{ "app_code":"a", "jwt":"eyJ.x.y", "bk_token": "" }"#;
    let a = send(
        shim.addr,
        "POST",
        EXECUTE,
        &body,
        &[("X-Bkapi-Authorization", header)],
    )
    .await;
    assert_eq!(a.code(), 0);
    // Re-serialized: canonical keys, no white space, empty values dropped.
    assert_eq!(
        mock.requests()[0]
            .header("x-bkapi-authorization")
            .as_deref(),
        Some(r#"{"bk_app_code":"a","jwt":"eyJ.x.y"}"#)
    );
    // Duplicate keys (the gateway and the shim could read different ones), unknown keys
    // and oversized values are refused with 1306000 and never forwarded.
    for (bad, word) in [
        (
            r#"{"bk_app_code":"a","bk_app_code":"b"}"#,
            "duplicate key [bk_app_code]",
        ),
        (
            r#"{"bk_app_code":"a","app_code":"b"}"#,
            "duplicate key [bk_app_code]",
        ),
        (
            r#"{"bk_app_code":"a","bk_signature":"sig"}"#,
            "unknown key [bk_signature]",
        ),
        (
            r#"{"bk_app_code":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
            "longer than 32",
        ),
    ] {
        let r = send(
            shim.addr,
            "POST",
            EXECUTE,
            &body,
            &[("X-Bkapi-Authorization", bad)],
        )
        .await;
        assert_eq!(r.code(), 1306000, "{bad}");
        assert!(
            r.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains(word),
            "{bad}: {}",
            r.body["message"].as_str().unwrap_or_default()
        );
    }
    assert_eq!(mock.requests().len(), 1);
    shim.shutdown().await;
}

#[tokio::test]
async fn oversized_credentials_in_the_body_are_refused_not_forwarded() {
    let mock = MockUpstream::start(started()).await;
    let shim = start_shim(test_config(&mock.url())).await;
    let body = json!({
        "bk_app_code": "a", "bk_app_secret": "s", "bk_username": "u".repeat(100_000),
        "bk_biz_id": 1, "bk_job_id": 1
    });
    let r = send(shim.addr, "POST", EXECUTE, &body.to_string(), &[]).await;
    assert_eq!(r.code(), 1306000);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("[bk_username]"),
        "{}",
        r.body["message"].as_str().unwrap_or_default()
    );
    assert!(mock.requests().is_empty());
    shim.shutdown().await;
}

#[tokio::test]
async fn get_cannot_start_jobs_and_cookie_needs_json() {
    let mock = MockUpstream::start(started()).await;
    let shim = start_shim(test_config(&mock.url())).await;
    // A GET that would start a job (e.g. an <img> on another site) is refused.
    let a = send(
        shim.addr,
        "GET",
        "/api/c/compapi/v2/job/execute_job/?bk_app_code=a&bk_biz_id=1&bk_job_id=1",
        "",
        &[("Cookie", "bk_token=victim")],
    )
    .await;
    assert_eq!(a.code(), 1306404);
    assert!(a.body["message"].as_str().unwrap().contains("GET"));
    // A form POST (text/plain) does not get the cookie; a JSON POST does.
    let body = json!({"bk_app_code": "a", "bk_biz_id": 1, "bk_job_id": 1}).to_string();
    send(
        shim.addr,
        "POST",
        EXECUTE,
        &body,
        &[
            ("Cookie", "bk_token=victim"),
            ("Content-Type", "text/plain"),
        ],
    )
    .await;
    send(
        shim.addr,
        "POST",
        EXECUTE,
        &body,
        &[("Cookie", "bk_token=mine")],
    )
    .await;
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(auth_of(&reqs[0]), json!({"bk_app_code": "a"}));
    assert_eq!(
        auth_of(&reqs[1]),
        json!({"bk_app_code": "a", "bk_token": "mine"})
    );
    shim.shutdown().await;
}

#[tokio::test]
async fn passthrough_with_jwt_sends_the_verified_app_and_odd_app_codes_are_refused() {
    let mock = MockUpstream::start(started()).await;
    let mut cfg = test_config(&mock.url());
    cfg.auth.jwt.required = true;
    cfg.auth.jwt.public_key_file = Some(fixture("public.pem"));
    let shim = start_shim(cfg).await;
    let t = token("app-a", "alice");
    // The incoming header names another app: the verified one is what the gateway sees.
    let a = send(
        shim.addr,
        "POST",
        EXECUTE,
        &json!({"bk_biz_id": 1, "bk_job_id": 1}).to_string(),
        &[
            ("X-Bkapi-JWT", &t),
            (
                "X-Bkapi-Authorization",
                r#"{"bk_app_code":"app-b","bk_app_secret":"b-secret"}"#,
            ),
        ],
    )
    .await;
    assert_eq!(a.code(), 0, "{:?}", a.body);
    assert_eq!(auth_of(&mock.requests()[0])["bk_app_code"], "app-a");
    shim.shutdown().await;

    let mock = MockUpstream::start(started()).await;
    let shim = start_shim(test_config(&mock.url())).await;
    for bad in [
        "x".repeat(33),
        "has space".to_owned(),
        "<script>".to_owned(),
    ] {
        let a = post(
            shim.addr,
            EXECUTE,
            &json!({"bk_app_code": bad, "bk_biz_id": 1, "bk_job_id": 1}),
        )
        .await;
        assert_eq!(a.code(), 1306000, "{bad}: {:?}", a.body);
        assert!(
            !a.raw.windows(bad.len()).any(|w| w == bad.as_bytes()),
            "the bad code is not echoed"
        );
    }
    assert!(mock.requests().is_empty());
    shim.shutdown().await;
}

/// A caller whose app comes from a verified JWT or an incoming `X-Bkapi-Authorization`
/// and is not allowed is refused before its body is read: a body that is not even JSON
/// gets the allow-list refusal, not a parse error.
#[tokio::test]
async fn a_caller_known_without_the_body_is_refused_before_it_is_parsed() {
    let mock = MockUpstream::start(started()).await;
    let mut cfg = test_config(&mock.url());
    cfg.auth.allowed_apps = vec!["real-app".into()];
    let shim = start_shim(cfg.clone()).await;
    cfg.auth.jwt.required = true;
    cfg.auth.jwt.public_key_file = Some(fixture("public.pem"));
    let with_jwt = start_shim(cfg).await;
    let not_json = "{\"bk_app_code\": \"real-app\", this is not JSON";
    let header = r#"{"bk_app_code": "other-app", "bk_app_secret": "s"}"#;
    let a = send(
        shim.addr,
        "POST",
        EXECUTE,
        not_json,
        &[("X-Bkapi-Authorization", header)],
    )
    .await;
    assert_eq!(a.code(), 1306403, "{:?}", a.body);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("other-app")
    );
    let t = token("other-app", "alice");
    let a = send(
        with_jwt.addr,
        "POST",
        EXECUTE,
        not_json,
        &[("X-Bkapi-JWT", &t)],
    )
    .await;
    assert_eq!(a.code(), 1306403, "{:?}", a.body);
    with_jwt.shutdown().await;
    // Without such a source the body names the app: it is parsed, and refused as JSON.
    let a = send(shim.addr, "POST", EXECUTE, not_json, &[]).await;
    assert_eq!(a.code(), 1306406, "{:?}", a.body);
    assert!(mock.requests().is_empty());
    shim.shutdown().await;
}
