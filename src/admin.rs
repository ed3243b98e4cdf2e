//! The admin listener's routes:
//! * `GET /metrics`: Prometheus text exposition.
//! * `GET /healthz`, `GET /livez`: `ok` while the process runs.
//! * `GET /readyz`: `ok`, or 503 `draining` once shutdown began.
//! * `POST /-/reload`: re-read the configuration (loopback callers only), like SIGHUP.

use crate::metrics::Metrics;
use crate::server::Peer;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the admin routes act on.
pub trait Admin: Send + Sync + 'static {
    /// The metrics registry.
    fn metrics(&self) -> &Metrics;
    /// Whether shutdown began.
    fn draining(&self) -> &AtomicBool;
    /// Re-read the configuration.
    fn reload(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

const PLAIN: &str = "text/plain; charset=utf-8";

/// The admin service over `admin`.
pub fn service<A: Admin, B: Send + 'static>(
    admin: Arc<A>,
) -> impl tower::Service<
    Request<B>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(move |req: Request<B>| {
        let admin = admin.clone();
        async move { Ok::<_, Infallible>(handle(&*admin, req).await) }
    })
}

async fn handle<A: Admin, B>(admin: &A, req: Request<B>) -> Response<Full<Bytes>> {
    let loopback = req
        .extensions()
        .get::<Peer>()
        .is_some_and(|p| p.0.ip().to_canonical().is_loopback());
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/metrics") => text(
            StatusCode::OK,
            admin.metrics().render(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        ("GET", "/healthz" | "/livez") => text(StatusCode::OK, "ok\n", PLAIN),
        ("GET", "/readyz") if admin.draining().load(Ordering::SeqCst) => {
            text(StatusCode::SERVICE_UNAVAILABLE, "draining\n", PLAIN)
        }
        ("GET", "/readyz") => text(StatusCode::OK, "ok\n", PLAIN),
        ("POST", "/-/reload") if !loopback => text(
            StatusCode::FORBIDDEN,
            "reload is allowed from loopback only\n",
            PLAIN,
        ),
        ("POST", "/-/reload") => match admin.reload().await {
            Ok(()) => text(StatusCode::OK, "reloaded\n", PLAIN),
            Err(e) => text(StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n"), PLAIN),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n", PLAIN),
    }
}

fn text(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}
