//! The legacy call: route and method, then the body under its size and time limits,
//! parsed into a JSON object ([`LegacyCall`], with the [`Route`] as a request extension).
//!
//! * An unknown path answers `1306404`; a method other than POST or GET too.
//! * A body over `server.max_body_bytes` is refused by its `Content-Length` before
//!   reading, or as soon as the limit is crossed while reading (`1306406`, and the
//!   connection is closed: the rest of the body was not read); a body that does not
//!   arrive within `server.body_read_timeout` answers `1306406`.
//! * A GET without a body takes its parameters from the query string; a POST body is JSON
//!   or `application/x-www-form-urlencoded` (`translate::transport`: text values typed,
//!   lists as JSON text), as ESB took them.
//! * The `bk_token` cookie may identify the caller of a read-only GET or of a JSON POST,
//!   never of a GET or form POST that changes something (CSRF).
//! * A caller whose app is known without the body (verified JWT, incoming
//!   `X-Bkapi-Authorization`) and not allowed is refused before the body is read.
//! * Before anything is read, the head is checked (`crate::protocol`: `CONNECT`, exactly
//!   one `Host`, plain `chunked` only).
//! * Before the body becomes a tree, its bytes pass the JSON budget (`crate::budget`:
//!   depth, `server.max_hosts` elements per array, string length, value count); at most
//!   `server.max_large_bodies` bodies over 1 MiB are buffered at once, one more is refused
//!   at once. Both answer `1306406` naming the limit.

use super::identify::IdentifyLayer;
use super::{BoxFuture, Resp, refuse, take};
use crate::budget::{Budget, ParseError};
use crate::error::ShimError;
use crate::metrics::Metrics;
use crate::translate::{self, Route};
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Limited};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

/// The parsed legacy call (the request body after this layer).
#[derive(Debug, Clone, Default)]
pub struct LegacyCall {
    /// Body parameters (the query string's for a GET without a body).
    pub params: Map<String, Value>,
    /// Query-string parameters.
    pub query: Map<String, Value>,
    /// Parts of the body read straight into their typed models (`translate::fast`); they
    /// are absent from `params`.
    pub typed: translate::fast::Typed,
    /// Whether the `bk_token` cookie may identify the caller: read-only GETs and
    /// `application/json` POSTs, which a page on another site cannot send without CORS.
    pub cookie_allowed: bool,
    /// `Some("GET")` / `Some("form POST")` for a call that changes something sent in a
    /// way another site can forge: refused when the cookie is its only user identity.
    pub guarded: Option<&'static str>,
}

/// Limits of the legacy body.
#[derive(Debug, Clone)]
pub struct LegacyBodyLayer {
    max_bytes: usize,
    read_timeout: Duration,
    metrics: Arc<Metrics>,
    budget: Budget,
    large: Arc<Semaphore>,
    max_large: usize,
    /// Refuses callers identified without the body (JWT, header) before it is read.
    gate: Option<IdentifyLayer>,
}

/// A body larger than this counts against `server.max_large_bodies`.
pub const LARGE_BODY_BYTES: u64 = 1024 * 1024;

impl LegacyBodyLayer {
    /// Bodies up to `max_bytes`, arriving within `read_timeout`; parse refusals are
    /// counted in `metrics`.
    pub fn new(max_bytes: usize, read_timeout: Duration, metrics: Arc<Metrics>) -> Self {
        Self {
            max_bytes,
            read_timeout,
            metrics,
            budget: Budget::default(),
            large: Arc::new(Semaphore::new(DEFAULT_MAX_LARGE)),
            max_large: DEFAULT_MAX_LARGE,
            gate: None,
        }
    }

    /// Callers whose app is known before the body (a verified JWT, an incoming
    /// `X-Bkapi-Authorization`) and that `identify` refuses are refused before the body is
    /// read ([`IdentifyLayer::refuse_early`]).
    pub fn with_gate(mut self, identify: IdentifyLayer) -> Self {
        self.gate = Some(identify);
        self
    }

    /// The JSON budget of a body, and how many large bodies may be buffered at once:
    /// `max_large`, the places of `large` (shared by the stacks of the serving cores).
    pub fn with_budget(mut self, budget: Budget, max_large: usize, large: Arc<Semaphore>) -> Self {
        self.budget = budget;
        self.max_large = max_large.max(1);
        self.large = large;
        self
    }
}

const DEFAULT_MAX_LARGE: usize = 4;

impl<S> Layer<S> for LegacyBodyLayer {
    type Service = LegacyBody<S>;
    fn layer(&self, inner: S) -> LegacyBody<S> {
        LegacyBody {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`LegacyBodyLayer`].
#[derive(Debug, Clone)]
pub struct LegacyBody<S> {
    inner: S,
    layer: LegacyBodyLayer,
}

impl<S, B> Service<Request<B>> for LegacyBody<S>
where
    S: Service<Request<LegacyCall>, Response = Resp> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<super::BoxError>,
{
    type Response = Resp;
    type Error = S::Error;
    type Future = BoxFuture<Result<Resp, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let layer = self.layer.clone();
        let mut inner = take(&mut self.inner);
        Box::pin(async move {
            match layer.parse(req).await {
                Ok(req) => inner.call(req).await,
                Err(e) => Ok(refuse(e)),
            }
        })
    }
}

impl LegacyBodyLayer {
    async fn parse<B>(&self, req: Request<B>) -> Result<Request<LegacyCall>, ShimError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<super::BoxError>,
    {
        let (mut parts, body) = req.into_parts();
        let (route, is_get, _permit) = match self.before_body(&parts) {
            Ok(ok) => ok,
            Err(e) => {
                linger(body, self.max_bytes);
                return Err(e);
            }
        };
        let body = self.read_within(body, &parts.headers).await?;
        let call = self.call_of(&parts, &route, is_get, &body)?;
        parts.extensions.insert(route);
        Ok(Request::from_parts(parts, call))
    }

    /// The checks made before any of the body is read: the head, the route, the method
    /// and, for a body that may be large, a permit held while it is buffered and parsed.
    fn before_body(
        &self,
        parts: &http::request::Parts,
    ) -> Result<(Route, bool, Option<OwnedSemaphorePermit>), ShimError> {
        crate::protocol::check_head(&parts.method, parts.version, &parts.headers)
            .map_err(ShimError::Protocol)?;
        let route = Route::from_path(parts.uri.path())
            .ok_or_else(|| ShimError::NotFound(shorten(parts.uri.path(), 200)))?;
        // ESB took GET or POST for every call; what a GET may change is limited by the
        // cookie rule of `call_of`.
        let is_get = match parts.method {
            http::Method::POST => false,
            http::Method::GET => true,
            ref m => return Err(ShimError::MethodNotAllowed(m.to_string())),
        };
        if let Some(e) = self.gate.as_ref().and_then(|g| g.refuse_early(parts)) {
            return Err(e);
        }
        let permit = match declared_len(&parts.headers) {
            Some(n) if n <= LARGE_BODY_BYTES => None,
            _ if is_get && !parts.headers.contains_key(http::header::TRANSFER_ENCODING) => None,
            _ => Some(
                Arc::clone(&self.large)
                    .try_acquire_owned()
                    .map_err(|_| ShimError::BodiesBusy(self.max_large))?,
            ),
        };
        Ok((route, is_get, permit))
    }

    /// The whole body within `server.body_read_timeout` and `server.max_body_bytes`.
    async fn read_within<B>(&self, body: B, headers: &HeaderMap) -> Result<Bytes, ShimError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<super::BoxError>,
    {
        tokio::time::timeout(self.read_timeout, read(body, headers, self.max_bytes))
            .await
            .map_err(|_| {
                ShimError::BodyRead(format!(
                    "the body did not arrive within {:?}",
                    self.read_timeout
                ))
            })?
    }

    /// The parameters of the call (budget-checked before they become a tree) and what
    /// the `bk_token` cookie may do for it.
    fn call_of(
        &self,
        parts: &http::request::Parts,
        route: &Route,
        is_get: bool,
        body: &Bytes,
    ) -> Result<LegacyCall, ShimError> {
        let query = translate::query::parse_query(parts.uri.query().unwrap_or(""));
        let kind = translate::transport::BodyKind::from_content_type(
            parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        let mut typed = translate::fast::Typed::default();
        let params = if is_get && body.is_empty() {
            translate::transport::typed(query.clone()).map_err(|e| self.rejected(route, e))?
        } else if translate::transport::is_json(body, kind) {
            match translate::fast::params(route, body, &self.budget) {
                Some((params, read)) => {
                    typed = read;
                    params
                }
                None => self.json_params(body, route)?,
            }
        } else {
            // A form body's values are small by the body limit.
            translate::transport::body_params(body, kind).map_err(|e| self.rejected(route, e))?
        };
        // CSRF: an identity from the `bk_token` cookie alone may read through a GET, but
        // changes something only through a JSON POST (which another site cannot send
        // without CORS).
        let cookie_allowed = if is_get {
            !route.is_mutating()
        } else {
            is_json(&parts.headers)
        };
        let guarded = match (route.is_mutating(), is_get, kind) {
            (false, ..) => None,
            (true, true, _) => Some("GET"),
            (true, false, translate::transport::BodyKind::Form) => Some("form POST"),
            (true, false, translate::transport::BodyKind::Json) => None,
        };
        Ok(LegacyCall {
            params,
            query,
            typed,
            cookie_allowed,
            guarded,
        })
    }
}

impl LegacyBodyLayer {
    /// A JSON body's parameters, parsed under the JSON budget in one pass (no tree grows
    /// past it).
    fn json_params(&self, body: &[u8], route: &Route) -> Result<Map<String, Value>, ShimError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match crate::budget::parse(body, &self.budget) {
            Ok(v) => translate::object_of(Ok(v)).map_err(|e| self.rejected(route, e)),
            Err(ParseError::Budget(e)) => Err(ShimError::Budget(e)),
            Err(ParseError::Json(e)) => {
                translate::object_of(Err(e)).map_err(|e| self.rejected(route, e))
            }
        }
    }

    /// A translation refusal, counted.
    fn rejected(&self, route: &Route, e: translate::TranslateError) -> ShimError {
        self.metrics
            .translation_reject(route.name(), e.reason.as_str());
        ShimError::Translate(e)
    }
}

/// How long a refused request's body is still read (and discarded) after the refusal.
const LINGER: Duration = Duration::from_secs(5);
/// How much of it, in multiples of `server.max_body_bytes`.
const LINGER_BODIES: usize = 8;

/// Reads and discards what is left of a refused request's body, at most
/// [`LINGER_BODIES`] × `max` bytes for at most [`LINGER`], nothing kept, as nginx's
/// lingering close: a client still sending then reads the refusal instead of a
/// connection reset. Then the connection closes.
fn linger<B>(body: B, max: usize)
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
{
    if body.is_end_stream() || tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let limit = max.saturating_mul(LINGER_BODIES);
    tokio::spawn(async move {
        let drain = async {
            let mut body = std::pin::pin!(body);
            let mut seen = 0usize;
            while let Some(Ok(frame)) = body.frame().await {
                seen = seen.saturating_add(frame.data_ref().map_or(0, Bytes::len));
                if seen > limit {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
    });
}

/// Read the whole body, refusing more than `max` bytes (by `Content-Length` up front, or
/// while reading).
async fn read<B>(body: B, headers: &HeaderMap, max: usize) -> Result<Bytes, ShimError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<super::BoxError>,
{
    if declared_len(headers).is_some_and(|n| n > max as u64) {
        linger(body, max);
        return Err(ShimError::BodyTooLarge(max));
    }
    match Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ShimError::BodyTooLarge(max)),
        Err(e) => Err(ShimError::BodyRead(e.to_string())),
    }
}

/// The declared `Content-Length`, if any.
fn declared_len(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// True when the request declares a JSON body.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// At most `max` bytes of `s` (on a character boundary), marked when cut: client text
/// echoed in errors and logs stays small.
pub fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Failure;
    use http_body_util::Full;
    use tower::{ServiceExt, service_fn};

    #[test]
    fn shorten_cuts_on_char_boundaries() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("中文字", 4), "中…");
    }

    fn svc() -> impl Service<Request<Full<Bytes>>, Response = Resp, Error = super::super::BoxError>
    {
        let inner = service_fn(|req: Request<LegacyCall>| async move {
            let mut r = Resp::new(Default::default());
            r.extensions_mut().insert(req.into_body());
            Ok::<_, super::super::BoxError>(r)
        });
        LegacyBodyLayer::new(8, Duration::from_secs(1), Arc::new(Metrics::new("t"))).layer(inner)
    }

    fn req(method: &str, path: &str, body: &'static str) -> Request<Full<Bytes>> {
        let mut r = Request::new(Full::new(Bytes::from_static(body.as_bytes())));
        *r.method_mut() = method.parse().unwrap_or_default();
        *r.uri_mut() = path.parse().unwrap_or_default();
        // HTTP/1.1 needs exactly one Host (`crate::protocol`).
        r.headers_mut()
            .insert(http::header::HOST, http::HeaderValue::from_static("shim"));
        r
    }

    async fn failure(r: Request<Full<Bytes>>) -> Option<ShimError> {
        let resp = svc().oneshot(r).await.ok()?;
        resp.extensions().get::<Failure>().map(|f| f.0.clone())
    }

    #[tokio::test]
    async fn route_method_and_size_are_checked() {
        const EXEC: &str = "/api/c/compapi/v2/job/execute_job/";
        assert!(matches!(
            failure(req("POST", "/nope", "{}")).await,
            Some(ShimError::NotFound(_))
        ));
        assert!(matches!(
            failure(req("PUT", EXEC, "{}")).await,
            Some(ShimError::MethodNotAllowed(_))
        ));
        assert!(matches!(
            failure(req("DELETE", EXEC, "")).await,
            Some(ShimError::MethodNotAllowed(_))
        ));
        // GET is accepted for every call (the cookie rule limits what it may change).
        assert_eq!(failure(req("GET", EXEC, "")).await, None);
        assert_eq!(
            failure(req("POST", EXEC, "{\"a\":12345}")).await,
            Some(ShimError::BodyTooLarge(8))
        );
        assert_eq!(failure(req("POST", EXEC, "{}")).await, None);
    }
}
