//! Route handlers: the innermost service. It receives the translated first v3 request
//! (with the caller's [`UpstreamAuth`] and the [`Route`] as request extensions), drives
//! the upstream calls the legacy call needs and answers the legacy reply:
//!
//! * submit and pass-through calls ([`submit`]): one call (a [`Single`](crate::translate::exchange::Single) exchange); a
//!   started job is remembered for later status calls;
//! * every other call is a pure exchange of `crate::translate` (the 16 calls of
//!   `translate::calls`, and `get_job_instance_status` / `get_job_instance_log` of
//!   `translate::polling`) that [`exchange`] drives: adding a call never touches this
//!   module.
//!
//! A reply carries its [`Outcome`] and [`LegacyRequestId`]; a failure is a
//! [`Failure`](crate::layer::Failure) response rendered by the envelope layer.

pub mod call;
pub mod exchange;
pub mod submit;

use crate::auth::UpstreamAuth;
use crate::error::ShimError;
use crate::jobcache::JobCache;
use crate::layer::{BoxError, BoxFuture, LegacyRequestId, Outcome, Resp, envelope, refuse};
use crate::metrics::Metrics;
use crate::translate::exchange::{Exchange, Step};
use crate::translate::polling::{LogExchange, StatusExchange};
use crate::translate::{Route, UpstreamRequest};
use crate::upstream::UpstreamService;
use call::Calls;
use http::{HeaderName, HeaderValue, Request, StatusCode};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

/// What every request's handler shares.
pub struct Shared {
    /// The upstream gateway.
    pub upstream: UpstreamService,
    /// `upstream.headers`, parsed.
    pub fixed_headers: Arc<[(HeaderName, HeaderValue)]>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Jobs started through the shim.
    pub jobs: Arc<JobCache>,
    /// `legacy.timezone`.
    pub tz: chrono_tz::Tz,
}

/// The route handlers.
#[derive(Clone)]
pub struct Routes {
    shared: Arc<Shared>,
}

impl Routes {
    /// Handlers over `shared`.
    pub fn new(shared: Shared) -> Routes {
        Routes {
            shared: Arc::new(shared),
        }
    }
}

impl Service<Request<UpstreamRequest>> for Routes {
    type Response = Resp;
    type Error = BoxError;
    type Future = BoxFuture<Result<Resp, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<UpstreamRequest>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move { Ok(handle(shared, req).await) })
    }
}

/// A legacy reply: its JSON text and code, or a failure.
pub type Answer = Result<(Vec<u8>, i64), ShimError>;

/// The exchange of a polling call, built from its translated status request; the status
/// exchange starts with what the job memory knows of the job.
async fn polling_exchange(
    shared: &Shared,
    route: &Route,
    request: &UpstreamRequest,
) -> Option<Box<dyn Exchange>> {
    match route {
        Route::GetJobInstanceStatus => {
            let ex = StatusExchange::from_request(request, shared.tz)?;
            let cached = shared.jobs.get(ex.job_instance_id()).await;
            Some(Box::new(ex.with_cached(cached)))
        }
        Route::GetJobInstanceLog => Some(Box::new(LogExchange::from_request(request, shared.tz)?)),
        _ => None,
    }
}

async fn handle(shared: Arc<Shared>, req: Request<UpstreamRequest>) -> Resp {
    let (parts, request) = req.into_parts();
    let (Some(route), Some(auth)) = (
        parts.extensions.get::<Route>().cloned(),
        parts.extensions.get::<UpstreamAuth>().cloned(),
    ) else {
        return refuse(ShimError::Internal);
    };
    let request_id = parts
        .extensions
        .get::<tower_http::request_id::RequestId>()
        .and_then(|r| r.header_value().to_str().ok())
        .map_or_else(crate::layer::request_id::mint, str::to_owned);
    let lang = parts.headers.get("blueking-language").cloned();
    let mut calls = Calls::new(&shared, auth, lang, request_id, route.name());
    let (answer, warnings) = drive(&shared, &mut calls, route, request, &parts).await;
    let mut resp = match answer {
        Ok((body, code)) => {
            let mut r = envelope::json_text(StatusCode::OK, body);
            let outcome = if code == 0 { "ok" } else { "business_error" };
            r.extensions_mut().insert(Outcome { code, outcome });
            r
        }
        Err(e) => refuse(e),
    };
    if let Some(v) = crate::layer::translate::warning_header(&warnings) {
        resp.headers_mut()
            .insert(crate::layer::translate::WARNING_HEADER, v);
    }
    if let Some(id) = calls.bkapi_request_id.take() {
        resp.extensions_mut().insert(LegacyRequestId(id));
    }
    resp
}

/// Runs the upstream calls of one request: its exchange, to the legacy answer (data and
/// code) and the warnings gathered on the way.
async fn drive(
    shared: &Shared,
    calls: &mut Calls,
    route: Route,
    request: UpstreamRequest,
    parts: &http::request::Parts,
) -> (Answer, Vec<String>) {
    match route {
        Route::Call(_) => match parts
            .extensions
            .get::<crate::translate::exchange::PendingExchange>()
            .and_then(|p| p.take())
        {
            Some(ex) => exchange::drive(shared, calls, Step::Call(request), ex).await,
            None => (Err(ShimError::Internal), Vec::new()),
        },
        Route::GetJobInstanceStatus | Route::GetJobInstanceLog => {
            match polling_exchange(shared, &route, &request).await {
                Some(ex) => exchange::run(shared, calls, ex).await,
                None => (Err(ShimError::Internal), Vec::new()),
            }
        }
        Route::Unavailable(u) => (Err(ShimError::Translate(u.to_error())), Vec::new()),
        Route::ExecuteJob
        | Route::FastExecuteScript
        | Route::FastPushFile
        | Route::V3(_)
        | Route::V3Other(_) => {
            let caller = parts.extensions.get::<crate::auth::Caller>();
            let ex = submit::exchange(&route, request, caller);
            exchange::run(shared, calls, ex).await
        }
    }
}
