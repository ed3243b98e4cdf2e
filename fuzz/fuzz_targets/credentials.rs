//! Credential and header parsing: `X-Bkapi-Authorization` (strict parse and its
//! re-serialization), the legacy query string, the `bk_token` cookie, credential limits
//! and the inbound JWT.
//!
//! Checked: no panic; a header that parses re-serializes to an ASCII header value that
//! parses back to the same thing.
#![no_main]

use bk_job_shim::auth;
use bk_job_shim::jwt::{JwtConfig, JwtVerifier};
use bk_job_shim::translate::credentials::{Credentials, parse_authorization_header};
use bk_job_shim::translate::query::parse_query;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn verifier() -> Option<&'static JwtVerifier> {
    static V: OnceLock<Option<JwtVerifier>> = OnceLock::new();
    V.get_or_init(|| {
        let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/jwt/public.pem");
        let cfg = JwtConfig {
            required: true,
            public_key_file: Some(key),
            issuer: Some("APIGW".into()),
            audience: vec!["bk-job-shim".into()],
            ..JwtConfig::default()
        };
        JwtVerifier::from_config(&cfg).ok().flatten()
    })
    .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Strict header parse and its re-serialization round trip.
    if let Ok(h) = parse_authorization_header(text) {
        let out = h.to_header_value();
        assert!(out.is_ascii());
        assert!(http::HeaderValue::from_str(&out).is_ok(), "{out}");
        let back = parse_authorization_header(&out).map_err(|e| e.to_string());
        assert_eq!(back.as_ref().ok(), Some(&h), "{out}");
        assert!(h.credentials().check_limits().is_ok());
    }
    // Lenient paths: body/query credentials and their limits.
    let mut q = parse_query(text);
    let c = Credentials::take_from(&mut q);
    if c.check_limits().is_ok() {
        assert!(http::HeaderValue::from_str(&c.header_value()).is_ok());
    }
    let _ = auth::check_app_code(text);
    if let Ok(v) = http::HeaderValue::from_str(text) {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, v.clone());
        let _ = auth::cookie(&headers, "bk_token");
        headers.insert(bk_job_shim::jwt::JWT_HEADER, v);
        if let Some(verifier) = verifier() {
            assert!(
                verifier.verify(&headers).is_err(),
                "an unsigned token verified"
            );
        }
    }
});
