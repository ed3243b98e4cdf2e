//! The legacy-envelope rescue: the one place where a refusal, a failure, an elapsed
//! deadline, a shed request or a panic becomes the legacy reply.
//!
//! * [`EnvelopeLayer`] renders every response carrying a [`Failure`] into
//!   `{result: false, code, message, request_id, data: null}` with the status of
//!   `legacy.error_status` (`esb`: HTTP 200; `gateway`: the real status, `Retry-After`
//!   where due), keeping the headers the inner layers set (request id, rate-limit
//!   headers). It also sets `X-Bkapi-Request-ID` on every reply.
//! * [`rescue`] turns the `Err`s of tower's own layers (timeout, load shed) into
//!   [`Failure`] responses right where they happen, so that metrics and the access log
//!   see them like any other refusal.
//! * [`PanicReply`] is what `CatchPanicLayer` answers: the same envelope for
//!   [`ShimError::Internal`]; the panic message is logged, never sent.
//!
//! hyper closes the connection on a service error without answering, so nothing below
//! this layer may end a request with an `Err` (tower-http's timeout docs give the same
//! reason).

use super::{BoxError, BoxFuture, Failure, LegacyRequestId, Resp, refuse};
use crate::config::ErrorStatus;
use crate::error::ShimError;
use crate::translate::envelope;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Layer, Service};

/// Response body after the rescue: the inner body, or a rendered envelope.
pub type EnvelopeBody<B> = Either<B, Full<Bytes>>;

/// Renders failures into legacy envelopes (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeLayer {
    mode: ErrorStatus,
    deadline: Duration,
}

impl EnvelopeLayer {
    /// Render in `mode`; `deadline` is `server.request_timeout` (named in its message).
    pub fn new(mode: ErrorStatus, deadline: Duration) -> Self {
        Self { mode, deadline }
    }
}

impl<S> Layer<S> for EnvelopeLayer {
    type Service = Envelope<S>;
    fn layer(&self, inner: S) -> Envelope<S> {
        Envelope {
            inner,
            layer: *self,
        }
    }
}

/// The service of [`EnvelopeLayer`].
#[derive(Debug, Clone)]
pub struct Envelope<S> {
    inner: S,
    layer: EnvelopeLayer,
}

impl<S, ReqB, B> Service<Request<ReqB>> for Envelope<S>
where
    S: Service<Request<ReqB>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    ReqB: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<EnvelopeBody<B>>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // A service that is not ready yet is waited for; one that failed is answered
        // per request (in `call`), so readiness itself never fails.
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let layer = self.layer;
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = match fut.await {
                Ok(r) => r,
                Err(e) => {
                    let e = ShimError::from_box(&e.into(), layer.deadline);
                    return Ok(render(&e, layer.mode, HeaderMap::new(), None).map(Either::Right));
                }
            };
            let (mut parts, body) = resp.into_parts();
            match parts.extensions.remove::<Failure>() {
                Some(Failure(e)) => {
                    let id = parts.extensions.get::<LegacyRequestId>().cloned();
                    let mut r = render(&e, layer.mode, parts.headers, id);
                    *r.extensions_mut() = parts.extensions;
                    r.extensions_mut().insert(Failure(e));
                    Ok(r.map(Either::Right))
                }
                None => {
                    set_legacy_id(&mut parts.headers, parts.extensions.get());
                    Ok(Response::from_parts(parts, Either::Left(body)))
                }
            }
        })
    }
}

/// Map a stack `Err` (elapsed deadline, shed request, …) to a [`Failure`] response.
/// Used with `ServiceBuilder::map_result` right outside tower's own layers.
pub fn rescue(
    deadline: Duration,
) -> impl Fn(Result<Resp, BoxError>) -> Result<Resp, BoxError> + Clone {
    move |r| Ok(r.unwrap_or_else(|e| refuse(ShimError::from_box(&e, deadline))))
}

/// The reply to a panic below `CatchPanicLayer`.
#[derive(Debug, Clone, Copy)]
pub struct PanicReply(pub ErrorStatus);

impl tower_http::catch_panic::ResponseForPanic for PanicReply {
    type ResponseBody = Full<Bytes>;
    fn response_for_panic(
        &mut self,
        err: Box<dyn std::any::Any + Send + 'static>,
    ) -> Response<Full<Bytes>> {
        let what = err
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| err.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(panic = %what, "request handler panicked");
        render(&ShimError::Internal, self.0, HeaderMap::new(), None)
    }
}

/// A JSON reply with `status` and `body`.
pub fn json(status: StatusCode, body: &serde_json::Value) -> Resp {
    json_text(status, serde_json::to_vec(body).unwrap_or_default())
}

/// A JSON reply with `status` and `body`, already written.
pub fn json_text(status: StatusCode, body: Vec<u8>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// The legacy reply for `e`. `headers` are those already set (request id, rate-limit
/// headers); the legacy `request_id` is `id`, else the `X-Request-Id` among `headers`,
/// else a fresh one.
fn render(
    e: &ShimError,
    mode: ErrorStatus,
    headers: HeaderMap,
    id: Option<LegacyRequestId>,
) -> Response<Full<Bytes>> {
    let reply = e.reply(mode);
    let legacy_id = id
        .map(|i| i.0)
        .or_else(|| request_id_of(&headers))
        .unwrap_or_else(super::request_id::mint);
    let body = envelope::error(reply.code, &reply.message, &legacy_id);
    let mut r = json(reply.status, &body);
    let content_type = r.headers_mut().remove(header::CONTENT_TYPE);
    let h = r.headers_mut();
    *h = headers;
    if let Some(ct) = content_type {
        h.insert(header::CONTENT_TYPE, ct);
    }
    h.remove(header::CONTENT_LENGTH);
    if let Ok(v) = HeaderValue::from_str(&legacy_id) {
        h.insert("x-bkapi-request-id", v);
    }
    h.insert("x-bkapi-error-code", HeaderValue::from(reply.code));
    if let Ok(v) = HeaderValue::from_str(&ascii_only(&reply.message)) {
        h.insert("x-bkapi-error-message", v);
    }
    if let Some(s) = reply.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    if matches!(e, ShimError::BodyTooLarge(_)) {
        // The rest of the body was not read: do not reuse this connection.
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

fn request_id_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `X-Bkapi-Request-ID` of a reply: the gateway's id when there was one, else ours.
fn set_legacy_id(headers: &mut HeaderMap, id: Option<&LegacyRequestId>) {
    let v = match id {
        Some(i) => HeaderValue::from_str(&i.0).ok(),
        None => headers.get("x-request-id").cloned(),
    };
    if let Some(v) = v {
        headers.insert("x-bkapi-request-id", v);
    }
}

/// Replace non-ASCII and control characters so a text fits in a header value.
pub fn ascii_only(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::{ServiceExt, service_fn};

    async fn body_of(r: Response<EnvelopeBody<Full<Bytes>>>) -> serde_json::Value {
        let b = r.into_body().collect().await.map(|c| c.to_bytes());
        serde_json::from_slice(&b.unwrap_or_default()).unwrap_or_default()
    }

    #[tokio::test]
    async fn failures_become_envelopes_with_inner_headers() {
        let inner = service_fn(|_req: Request<()>| async {
            let mut r = refuse(ShimError::MissingAppCode);
            r.headers_mut()
                .insert("x-request-id", HeaderValue::from_static("rid"));
            Ok::<_, BoxError>(r)
        });
        let svc = EnvelopeLayer::new(ErrorStatus::Esb, Duration::from_secs(1)).layer(inner);
        let r = svc
            .oneshot(Request::new(()))
            .await
            .unwrap_or_else(|e| match e {});
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-bkapi-request-id"], "rid");
        assert_eq!(r.headers()["x-bkapi-error-code"], "1306000");
        let v = body_of(r).await;
        assert_eq!(
            (v["result"].clone(), v["request_id"].clone()),
            (false.into(), "rid".into())
        );
    }

    #[tokio::test]
    async fn errors_become_envelopes_in_gateway_mode() {
        let inner = service_fn(|_req: Request<()>| async {
            Err::<Resp, BoxError>(Box::new(tower::load_shed::error::Overloaded::new()))
        });
        let svc = EnvelopeLayer::new(ErrorStatus::Gateway, Duration::from_secs(1)).layer(inner);
        let r = svc
            .oneshot(Request::new(()))
            .await
            .unwrap_or_else(|e| match e {});
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["retry-after"], "1");
        let v = body_of(r).await;
        assert_eq!(v["code"], 1306429);
        assert!(v["message"].as_str().unwrap_or_default().contains("busy"));
    }
}
