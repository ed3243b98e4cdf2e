//! Built-in emulator of the bk-job v3 API gateway (`DESIGN.md` §2: `stub-gateway`,
//! `upstream.url = "stub"`).
//!
//! It answers `/api/v3/<resource>` and `/api/v3/system/<resource>` (optionally under a
//! stage base such as `/api/bk-job/prod`) the way the BlueKing API gateway in front of
//! bk-job does, so the shim and its clients can be tried without a real BlueKing:
//!
//! * **Gateway** (`stub/apigw.rs`, `spec/gateway-and-peers.md` §1.2–1.3, §1.6): every response
//!   carries a fresh `X-Bkapi-Request-ID` (UUIDv4) and an `X-Request-ID`; unknown paths
//!   and wrong methods answer 404 `1640401 API_NOT_FOUND`; `X-Bkapi-Authorization` is
//!   verified like `bk-auth-verify`/`bk-auth-validate` (400 `1640001` with the real
//!   reasons); bodies over 40 MB answer 413 `1641301`. Gateway errors have the APIGW body
//!   `{code, code_name, message, result:false, data:null}` and `X-Bkapi-Error-Code` /
//!   `X-Bkapi-Error-Message` headers.
//! * **bk-job** (`stub/job.rs`, `spec/bk-job-api.md` §2, §5.1): HTTP 200 `EsbResp`
//!   (`result`, `code`, `message` only on error, `data` only on success,
//!   `job_request_id`), bk-job's validation codes and messages, and an in-memory model of
//!   job instances: a started job runs for [`StubOptions::run_time`] (its steps one after
//!   another), then succeeds.
//!
//! Emulation shortcuts (there is no bkauth, login, CMDB or IAM behind it):
//! * any app secret and any `bk_signature` verify the app; any `bk_token` (header or
//!   cookie) or `access_token` verifies the user, whose name is the header's
//!   `bk_username`, else `admin`;
//! * every plan id > 0 exists (a script step then a file step); every account exists;
//! * hosts given by IP get host ids from 101 (`0:127.0.0.1` is 101, `0:127.0.0.2` 102);
//!   hosts given by id get the IP `10.<id bytes>`; dynamic groups and topo nodes, and
//!   plans without host variables, resolve to `0:127.0.0.1` and `0:127.0.0.2`;
//! * `operate_job_instance` supports code 1 (terminate: status 11, hosts 403); other
//!   published resources answer an empty page (`get_*_list`) or `1241011 Not support yet`.
//!
//! Served standalone (`bk-job-shim stub-gateway`) by the shim's one accept loop, or
//! in-process as the upstream service for `upstream.url = "stub"` (`crate::upstream`).
//!
//! Time is injectable: [`StubGateway::with_start_time`] freezes the clock and
//! [`StubGateway::advance_clock`] moves it, for deterministic tests.

mod apigw;
mod job;
mod value;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Request body limit of the gateway (`spec/bk-job-api.md` §5.2: 40 MB).
pub const MAX_BODY_BYTES: usize = 40 * 1024 * 1024;

/// Settings of the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubOptions {
    /// How long a started job stays running before it succeeds (default 2 s). Zero makes
    /// jobs finish the moment they start.
    pub run_time: Duration,
    /// Stage base path, e.g. `/api/bk-job/prod`. Requests are accepted both under it and
    /// without it (`/api/v3/...`). Empty (the default) means no base.
    pub base_path: String,
}

impl Default for StubOptions {
    fn default() -> Self {
        Self {
            run_time: Duration::from_secs(2),
            base_path: String::new(),
        }
    }
}

/// The emulated gateway. Cheap to share (`Arc`): all state sits behind a `Mutex`.
#[derive(Debug)]
pub struct StubGateway {
    run_ms: i64,
    base_path: String,
    /// Frozen clock start (ms since the epoch); `None` follows the system clock.
    frozen_at: Option<i64>,
    /// Manual advance added to the clock, ms.
    offset_ms: Mutex<i64>,
    state: Mutex<job::State>,
}

impl StubGateway {
    /// An emulator following the system clock.
    pub fn new(opts: StubOptions) -> Self {
        let base = opts.base_path.trim().trim_end_matches('/');
        let base_path = if base.is_empty() || base.starts_with('/') {
            base.to_owned()
        } else {
            format!("/{base}")
        };
        Self {
            run_ms: i64::try_from(opts.run_time.as_millis()).unwrap_or(i64::MAX),
            base_path,
            frozen_at: None,
            offset_ms: Mutex::new(0),
            state: Mutex::new(job::State::default()),
        }
    }

    /// An emulator whose clock stands still at `start_ms` (ms since the epoch) until
    /// [`advance_clock`](Self::advance_clock) moves it.
    pub fn with_start_time(opts: StubOptions, start_ms: u64) -> Self {
        Self {
            frozen_at: Some(i64::try_from(start_ms).unwrap_or(i64::MAX)),
            ..Self::new(opts)
        }
    }

    /// Move the emulator's clock forward by `by`.
    pub fn advance_clock(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let mut off = lock(&self.offset_ms);
        *off = off.saturating_add(by);
    }

    /// The emulator's current time, ms since the epoch (what `create_time` etc. use).
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.now()).unwrap_or(0)
    }

    fn now(&self) -> i64 {
        let base = self.frozen_at.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        });
        base.saturating_add(*lock(&self.offset_ms))
    }

    /// Answer one request exactly as the gateway + bk-job would. Never panics.
    pub fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        let resp = if req.body().len() > MAX_BODY_BYTES {
            apigw::ApigwError::body_too_large().into_response()
        } else {
            self.dispatch(&req)
        };
        finish(req.headers(), resp)
    }

    fn dispatch(&self, req: &Request<Bytes>) -> Response<Bytes> {
        let route = match apigw::route(req.method(), req.uri().path(), &self.base_path) {
            Ok(r) => r,
            Err(e) => return e.into_response(),
        };
        let query = req.uri().query();
        let identity = match apigw::authenticate(req.headers(), query, route.system) {
            Ok(i) => i,
            Err(e) => return e.into_response(),
        };
        if identity.username.is_empty() {
            // bk-job's own gateway: a JWT without a user is refused with HTTP 401.
            let body = job::envelope(Err(job::JobError {
                code: 1_247_002,
                message: "Missing user info".to_owned(),
            }));
            return json_response(StatusCode::UNAUTHORIZED, &body);
        }
        let params = if req.method() == http::Method::GET {
            Ok(value::query_object(query))
        } else {
            job::body_params(req.body())
        };
        let result = params.and_then(|params| {
            let call = job::Call {
                resource: route.resource.name,
                params: &params,
                username: &identity.username,
                now: self.now(),
                run_ms: self.run_ms,
            };
            lock(&self.state).call(&call)
        });
        json_response(StatusCode::OK, &job::envelope(result))
    }

    /// [`handle`](Self::handle) for a streamed hyper request: the body is read up to
    /// [`MAX_BODY_BYTES`] (413 beyond).
    pub async fn handle_incoming(&self, req: Request<Incoming>) -> Response<Bytes> {
        let too_large = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > MAX_BODY_BYTES as u64);
        let (parts, body) = req.into_parts();
        if too_large {
            return finish(
                &parts.headers,
                apigw::ApigwError::body_too_large().into_response(),
            );
        }
        match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => self.handle(Request::from_parts(parts, collected.to_bytes())),
            Err(e) => {
                let err = if e.is::<http_body_util::LengthLimitError>() {
                    apigw::ApigwError::body_too_large()
                } else {
                    apigw::ApigwError::invalid_args("failed to read request body")
                };
                finish(&parts.headers, err.into_response())
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// Add the `bk-request-id` headers: a fresh `X-Bkapi-Request-ID` (UUIDv4, 36 chars) and
/// `X-Request-ID` (the caller's, else the UUID without dashes).
fn finish(req_headers: &http::HeaderMap, mut resp: Response<Bytes>) -> Response<Bytes> {
    let id = uuid::Uuid::new_v4();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id.hyphenated().to_string()) {
        headers.insert("x-bkapi-request-id", v);
    }
    let x_request_id = req_headers
        .get("x-request-id")
        .filter(|v| !v.is_empty())
        .cloned()
        .or_else(|| HeaderValue::from_str(&id.simple().to_string()).ok());
    if let Some(v) = x_request_id {
        headers.insert("x-request-id", v);
    }
    resp
}

/// Serve `stub` on `listener` with the shim's one accept loop (`crate::server::serve`:
/// HTTP/1.1, header-read timeout, connection cap) until `shutdown` resolves; then stop
/// accepting and wait for open connections to finish their requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    stub: Arc<StubGateway>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = tower::service_fn(move |req: Request<Incoming>| {
        let stub = Arc::clone(&stub);
        async move { Ok::<_, Infallible>(stub.handle_incoming(req).await.map(Full::new)) }
    });
    let limits = crate::server::Limits {
        grace: Duration::from_secs(30),
        header_read_timeout: Duration::from_secs(30),
        max_connections: 10_000,
    };
    crate::server::serve(listener, service, limits, shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str, auth: Option<&str>, body: &str) -> Request<Bytes> {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(a) = auth {
            b = b.header("x-bkapi-authorization", a);
        }
        b.body(Bytes::from(body.to_owned()))
            .unwrap_or_else(|_| Request::new(Bytes::new()))
    }

    fn json(resp: &Response<Bytes>) -> serde_json::Value {
        serde_json::from_slice(resp.body()).unwrap_or_default()
    }

    const AUTH: &str =
        r#"{"bk_app_code":"a","bk_app_secret":"s","bk_token":"t","bk_username":"alice"}"#;

    #[test]
    fn request_id_headers_on_every_response() {
        let stub = StubGateway::new(StubOptions::default());
        let resp = stub.handle(req("GET", "/nope", None, ""));
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let id = resp.headers().get("x-bkapi-request-id").map(|v| v.len());
        assert_eq!(id, Some(36));
        assert_eq!(
            resp.headers().get("x-request-id").map(|v| v.len()),
            Some(32)
        );
        assert_eq!(json(&resp)["code"], 1_640_401);
    }

    #[test]
    fn base_path_is_normalised() {
        let stub = StubGateway::new(StubOptions {
            base_path: "api/bk-job/prod/".into(),
            ..StubOptions::default()
        });
        let uri = "/api/bk-job/prod/api/v3/get_job_instance_status?bk_biz_id=1&job_instance_id=1";
        let resp = stub.handle(req("GET", uri, Some(AUTH), ""));
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(json(&resp)["code"], 1_244_006);
    }

    #[test]
    fn system_api_without_user_is_401() {
        let stub = StubGateway::new(StubOptions::default());
        let auth = r#"{"bk_app_code":"a","bk_app_secret":"s"}"#;
        let resp = stub.handle(req(
            "GET",
            "/api/v3/system/get_job_instance_list",
            Some(auth),
            "",
        ));
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(json(&resp)["code"], 1_247_002);
    }

    #[test]
    fn frozen_clock_advances() {
        let stub = StubGateway::with_start_time(StubOptions::default(), 1_000);
        assert_eq!(stub.now_ms(), 1_000);
        stub.advance_clock(Duration::from_millis(250));
        assert_eq!(stub.now_ms(), 1_250);
    }
}
