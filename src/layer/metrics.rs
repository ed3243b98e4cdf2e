//! Request metrics: `bk_job_shim_in_flight_requests` while a request runs, then
//! `bk_job_shim_requests_total{route, app_code, outcome, code}` and
//! `bk_job_shim_request_duration_seconds{route}` when it is answered.
//!
//! Labels stay bounded: `route` is the route name (never the raw path), `app_code` the
//! [`AppLabel`] the identify layer put on the response (`none` before it ran), and the
//! code and outcome come from the reply's [`Outcome`] or [`Failure`]. Placed outside the
//! load shed and the deadline, so shed and late requests are counted too.

use super::{AppLabel, BoxFuture, Failure, Outcome, Resp, take};
use crate::config::ErrorStatus;
use crate::metrics::Metrics;
use crate::translate::Route;
use http::Request;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

/// Records request metrics into a [`Metrics`] registry.
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    metrics: Arc<Metrics>,
    mode: ErrorStatus,
}

impl MetricsLayer {
    /// Record into `metrics`; codes are those of `legacy.error_status = mode`.
    pub fn new(metrics: Arc<Metrics>, mode: ErrorStatus) -> Self {
        Self { metrics, mode }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;
    fn layer(&self, inner: S) -> MetricsService<S> {
        MetricsService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`MetricsLayer`].
#[derive(Debug, Clone)]
pub struct MetricsService<S> {
    inner: S,
    layer: MetricsLayer,
}

impl<S, B> Service<Request<B>> for MetricsService<S>
where
    S: Service<Request<B>, Response = Resp> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Resp;
    type Error = S::Error;
    type Future = BoxFuture<Result<Resp, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let started = Instant::now();
        let metrics = self.layer.metrics.clone();
        let mode = self.layer.mode;
        let in_flight = metrics.in_flight();
        let route = Route::from_path(req.uri().path())
            .as_ref()
            .map(Route::name)
            .unwrap_or("unknown");
        let mut inner = take(&mut self.inner);
        Box::pin(async move {
            let resp = inner.call(req).await?;
            let (code, outcome) = match resp.extensions().get::<Failure>() {
                Some(Failure(e)) => {
                    let r = e.reply(mode);
                    (r.code, r.outcome)
                }
                None => resp
                    .extensions()
                    .get::<Outcome>()
                    .map_or((0, "ok"), |o| (o.code, o.outcome)),
            };
            let app = resp
                .extensions()
                .get::<AppLabel>()
                .map_or("none", |a| a.0.as_ref());
            metrics.observe_request(route, app, outcome, code, started.elapsed());
            drop(in_flight);
            Ok(resp)
        })
    }
}
