//! The request span and the one access-log line, as hooks of tower-http's `TraceLayer`.
//!
//! [`RequestSpan`] opens `request{request_id, route, app_code, upstream_status,
//! bkapi_request_id, duration_ms}`; the inner layers fill the empty fields
//! (`tracing::Span::current().record`) while the request runs inside it. [`AccessLog`]
//! writes `request completed` with the legacy `code`, the metric `outcome` and the HTTP
//! status the client gets, plus the refusal or failure reason when there was one
//! (`info` for the caller's mistakes, `warn` for upstream failures). Bodies and headers
//! are never logged; the credential headers are marked sensitive before this layer.

use super::{Failure, Outcome};
use crate::config::ErrorStatus;
use crate::translate::Route;
use http::{Request, Response};
use std::time::Duration;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::request_id::RequestId;
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::{Span, field};

/// The configured `TraceLayer`.
pub type Layer =
    TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), AccessLog, (), (), ()>;

/// `TraceLayer` with the shim's span and access log; `mode` is `legacy.error_status`.
pub fn layer(mode: ErrorStatus) -> Layer {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(AccessLog(mode))
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

/// Makes the request span.
#[derive(Debug, Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &Request<B>) -> Span {
        let id = req
            .extensions()
            .get::<RequestId>()
            .and_then(|r| r.header_value().to_str().ok())
            .unwrap_or_default();
        let route = Route::from_path(req.uri().path());
        tracing::info_span!(
            "request",
            request_id = %id,
            route = route.as_ref().map(Route::name).unwrap_or("unknown"),
            app_code = field::Empty,
            upstream_status = field::Empty,
            bkapi_request_id = field::Empty,
            duration_ms = field::Empty,
        )
    }
}

/// Writes the access-log line.
#[derive(Debug, Clone, Copy)]
pub struct AccessLog(pub ErrorStatus);

impl<B> OnResponse<B> for AccessLog {
    fn on_response(self, resp: &Response<B>, latency: Duration, span: &Span) {
        span.record("duration_ms", latency.as_secs_f64() * 1000.0);
        if let Some(Failure(e)) = resp.extensions().get::<Failure>() {
            let reply = e.reply(self.0);
            match reply.outcome {
                "upstream_error" => tracing::warn!(code = reply.code, error = %e, "request failed"),
                _ => tracing::info!(code = reply.code, error = %e, "request refused"),
            }
            tracing::info!(
                code = reply.code,
                outcome = reply.outcome,
                status = reply.status.as_u16(),
                "request completed"
            );
            return;
        }
        let o = resp
            .extensions()
            .get::<Outcome>()
            .copied()
            .unwrap_or(Outcome {
                code: 0,
                outcome: "ok",
            });
        tracing::info!(
            code = o.code,
            outcome = o.outcome,
            status = resp.status().as_u16(),
            "request completed"
        );
    }
}
