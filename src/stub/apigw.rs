//! The API gateway (APIGW, apisix) half of the emulator: routing, `X-Bkapi-Authorization`
//! verification and the gateway's own error responses.
//!
//! Sources: `spec/gateway-and-peers.md` §1.2, §1.3, §1.6; `spec/bk-job-api.md` §1.1,
//! §5.2, §6.1 (BKAPISIX `bk-auth-verify.lua`, `bk-auth-verify/app-account-verifier.lua`,
//! `legacy-verifier.lua`, `bk-auth-validate.lua`, `bk-core/errorx.lua`,
//! `bk-error-wrapper.lua`, `bk-not-found-handler.lua`).

use super::resources::{self, Published, Verb};
use crate::translate::Credentials;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use serde_json::json;

/// Content type of every gateway-generated error (`bk-error-wrapper.lua`).
const APIGW_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// An error produced by the gateway itself (never reaches bk-job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ApigwError {
    /// HTTP status (APIGW uses real statuses; bk-job's gateway has no `bk-status-rewrite`).
    pub(super) status: StatusCode,
    /// `code`, e.g. 1640001.
    pub(super) code: i64,
    /// `code_name`, e.g. `INVALID_ARGS`.
    pub(super) code_name: &'static str,
    /// `message`, with `[key="value"]` fields appended like `errorx:with_field`.
    pub(super) message: String,
}

impl ApigwError {
    /// 400 / 1640001: authentication failures (`bk-auth-validate`).
    pub(super) fn invalid_args(reason: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: 1_640_001,
            code_name: "INVALID_ARGS",
            message: format!("Parameters error [reason=\"{reason}\"]"),
        }
    }

    /// 404 / 1640401: no published resource for this method and path.
    pub(super) fn not_found(method: &Method, path: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: 1_640_401,
            code_name: "API_NOT_FOUND",
            message: format!("API not found [method=\"{method}\" path=\"{path}\"]"),
        }
    }

    /// 413 / 1641301: body over the gateway limit (40 MB).
    pub(super) fn body_too_large() -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: 1_641_301,
            code_name: "BODY_SIZE_LIMIT_EXCEED",
            message: "Request body size too large.".to_owned(),
        }
    }

    /// The response `bk-error-wrapper` writes: JSON body plus `X-Bkapi-Error-Code` and
    /// `X-Bkapi-Error-Message` headers.
    pub(super) fn into_response(self) -> Response<Bytes> {
        let body = json!({
            "code": self.code,
            "code_name": self.code_name,
            "message": self.message,
            "result": false,
            "data": null,
        });
        let mut resp = Response::new(Bytes::from(body.to_string()));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(APIGW_CONTENT_TYPE));
        if let Ok(v) = HeaderValue::from_str(&self.code.to_string()) {
            headers.insert("x-bkapi-error-code", v);
        }
        if let Ok(v) = HeaderValue::from_bytes(self.message.as_bytes()) {
            headers.insert("x-bkapi-error-message", v);
        }
        resp
    }
}

/// A matched gateway resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Route {
    /// The published bk-job v3 resource.
    pub(super) resource: &'static Published,
    /// `/api/v3/system/<name>`: app-only authentication, user from `X-Bk-Username`.
    pub(super) system: bool,
}

/// Match `[base_path]/api/v3/[system/]<resource>[/]` with the published method. The
/// gateway publishes each path with and without a trailing slash (`_convert_uris`).
pub(super) fn route(method: &Method, path: &str, base_path: &str) -> Result<Route, ApigwError> {
    let not_found = || ApigwError::not_found(method, path);
    let rest = if !base_path.is_empty()
        && path.starts_with(base_path)
        && path[base_path.len()..].starts_with("/api/")
    {
        &path[base_path.len()..]
    } else {
        path
    };
    let rest = rest.strip_prefix("/api/v3/").ok_or_else(not_found)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (system, name) = match rest.strip_prefix("system/") {
        Some(name) => (true, name),
        None => (false, rest),
    };
    let resource = resources::find(name, system).ok_or_else(not_found)?;
    let expected = match resource.verb {
        Verb::Get => Method::GET,
        Verb::Post => Method::POST,
    };
    if *method != expected {
        return Err(not_found());
    }
    Ok(Route { resource, system })
}

/// Who the gateway says is calling (what it puts in the JWT for bk-job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Identity {
    /// Verified app code.
    pub(super) app_code: String,
    /// User name bk-job sees (may be empty on `/system/` resources without a user).
    pub(super) username: String,
}

/// Verify `X-Bkapi-Authorization` like `bk-auth-verify` + `bk-auth-validate` for a
/// resource with `appVerifiedRequired` and, unless `system`, `userVerifiedRequired`.
///
/// Emulation choices (the stub has no bkauth or login service):
/// * any non-empty `bk_app_secret` (≤128 chars) and any `bk_signature` query parameter
///   verify the app; any `bk_token` (header or `bk_token` cookie) and any `access_token`
///   verify the user;
/// * the user name of a `bk_token`/`access_token` is the header's `bk_username` when
///   present, else `admin`;
/// * credentials in the query string or body are ignored: bk-job's gateway is registered
///   with `allow_auth_from_params: false`.
pub(super) fn authenticate(
    headers: &HeaderMap,
    query: Option<&str>,
    system: bool,
) -> Result<Identity, ApigwError> {
    let creds = match headers.get("x-bkapi-authorization") {
        None => Credentials::default(),
        Some(v) if v.as_bytes().iter().all(u8::is_ascii_whitespace) => Credentials::default(),
        Some(v) => std::str::from_utf8(v.as_bytes())
            .ok()
            .and_then(Credentials::from_header_json)
            .ok_or_else(|| {
                ApigwError::invalid_args("request header X-Bkapi-Authorization is not a valid JSON")
            })?,
    };
    let bk_token = creds
        .bk_token
        .clone()
        .or_else(|| crate::auth::cookie(headers, "bk_token"));

    // App (app-account-verifier.lua; an access_token carries its own app).
    let app_code = creds.app_code.clone().unwrap_or_default();
    if creds.access_token.is_none() {
        if app_code.is_empty() {
            return Err(ApigwError::invalid_args("app code cannot be empty"));
        }
        if let Some(secret) = &creds.app_secret {
            if app_code.chars().count() > 32 {
                return Err(ApigwError::invalid_args(
                    "app code cannot be longer than 32 characters",
                ));
            }
            if app_code
                .chars()
                .any(|c| c.is_whitespace() || c == '<' || c == '>')
            {
                return Err(ApigwError::invalid_args(
                    "app code contains invalid characters",
                ));
            }
            if secret.chars().count() > 128 {
                return Err(ApigwError::invalid_args(
                    "app secret cannot be longer than 128 characters",
                ));
            }
        } else {
            let signed = ["bk_signature", "signature"]
                .iter()
                .any(|k| super::value::query_param(query, k).is_some_and(|s| !s.is_empty()));
            if !signed {
                return Err(ApigwError::invalid_args(
                    "please provide bk_app_secret or bk_signature to verify app",
                ));
            }
        }
    }
    let app_code = if app_code.is_empty() {
        "access_token_app".to_owned()
    } else {
        app_code
    };

    // User (legacy-verifier.lua): bk_token, then bk_username (unverified).
    let token_user = || creds.username.clone().unwrap_or_else(|| "admin".to_owned());
    let verified_user = if creds.access_token.is_some() || bk_token.is_some() {
        Some(token_user())
    } else {
        None
    };

    if system {
        // X-Bk-Job-Api-Type: app: a non-blank X-Bk-Username overrides the JWT user.
        let username = headers
            .get("x-bk-username")
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .or(verified_user)
            .or_else(|| creds.username.clone())
            .unwrap_or_default();
        return Ok(Identity { app_code, username });
    }
    match verified_user {
        Some(username) => Ok(Identity { app_code, username }),
        None if creds.username.is_some() => Err(ApigwError::invalid_args(
            "user authentication failed, the user indicated by bk_username is not verified",
        )),
        None => Err(ApigwError::invalid_args(
            "user authentication failed, please provide a valid user identity, such as bk_username, bk_token, access_token",
        )),
    }
}

/// A cookie value from the `Cookie` headers.
#[cfg(test)]
mod tests {
    use super::*;

    fn h(auth: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(auth) {
            m.insert("x-bkapi-authorization", v);
        }
        m
    }

    fn reason(r: Result<Identity, ApigwError>) -> String {
        r.err().map(|e| e.message).unwrap_or_default()
    }

    #[test]
    fn routing() {
        let get = Method::GET;
        let post = Method::POST;
        assert!(route(&get, "/api/v3/get_job_instance_status", "").is_ok());
        assert!(route(&get, "/api/v3/get_job_instance_status/", "").is_ok());
        assert!(route(&post, "/api/v3/get_job_instance_status", "").is_err());
        let r = route(
            &post,
            "/api/bk-job/prod/api/v3/system/fast_execute_script",
            "/api/bk-job/prod",
        );
        assert!(r.is_ok_and(|r| r.system && r.resource.name == "fast_execute_script"));
        assert!(route(&post, "/api/v3/nope", "").is_err());
        assert!(route(&post, "/api/v2/fast_execute_script", "").is_err());
        assert!(
            route(
                &post,
                "/api/bk-job/prodx/api/v3/fast_execute_script",
                "/api/bk-job/prod"
            )
            .is_err()
        );
        let e = route(&post, "/x", "").err();
        assert_eq!(
            e.map(|e| e.message),
            Some("API not found [method=\"POST\" path=\"/x\"]".to_owned())
        );
    }

    #[test]
    fn auth_messages() {
        assert!(
            reason(authenticate(&HeaderMap::new(), None, false))
                .contains("app code cannot be empty")
        );
        assert!(reason(authenticate(&h("nope"), None, false)).contains("not a valid JSON"));
        assert!(
            reason(authenticate(&h(r#"{"bk_app_code":"a"}"#), None, false))
                .contains("bk_signature")
        );
        assert!(authenticate(&h(r#"{"bk_app_code":"a"}"#), Some("bk_signature=x"), true).is_ok());
        assert!(
            reason(authenticate(
                &h(r#"{"bk_app_code":"a","bk_app_secret":"s"}"#),
                None,
                false
            ))
            .contains("such as bk_username")
        );
        assert!(
            reason(authenticate(
                &h(r#"{"bk_app_code":"a","bk_app_secret":"s","bk_username":"u"}"#),
                None,
                false
            ))
            .contains("is not verified")
        );
        let ok = authenticate(
            &h(r#"{"bk_app_code":"a","bk_app_secret":"s","bk_token":"t","bk_username":"u"}"#),
            None,
            false,
        );
        assert_eq!(ok.map(|i| i.username), Ok("u".to_owned()));
        let mut hm = h(r#"{"bk_app_code":"a","bk_app_secret":"s"}"#);
        hm.insert(
            http::header::COOKIE,
            HeaderValue::from_static("x=1; bk_token=abc"),
        );
        assert_eq!(
            authenticate(&hm, None, false).map(|i| i.username),
            Ok("admin".to_owned())
        );
        hm.insert("x-bk-username", HeaderValue::from_static("bob"));
        assert_eq!(
            authenticate(&hm, None, true).map(|i| i.username),
            Ok("bob".to_owned())
        );
    }
}
