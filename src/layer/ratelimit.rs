//! Per-app rate limiting (DESIGN §5) in front of translation: the verified, allow-listed
//! app code is the key. Every reply gets the `X-Bkapi-RateLimit-*` headers of the
//! decision; a refused request answers `1306429` (`Retry-After` in gateway mode). A
//! limiter backend failure is counted (`bk_job_shim_rate_limit_backend_errors_total`)
//! and then follows `rate_limit.fail_open`.

use super::legacy_body::LegacyCall;
use super::{AppLabel, BoxFuture, Resp, refuse, take};
use crate::auth::Caller;
use crate::error::ShimError;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use http::Request;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Admits or refuses each app's requests with a [`RateLimiter`].
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limiter: RateLimiter,
    metrics: Arc<Metrics>,
}

impl RateLimitLayer {
    /// Limit with `limiter`, counting refusals in `metrics`.
    pub fn new(limiter: RateLimiter, metrics: Arc<Metrics>) -> Self {
        Self { limiter, metrics }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RateLimitLayer`].
#[derive(Debug, Clone)]
pub struct RateLimit<S> {
    inner: S,
    layer: RateLimitLayer,
}

impl<S> Service<Request<LegacyCall>> for RateLimit<S>
where
    S: Service<Request<LegacyCall>, Response = Resp> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Resp;
    type Error = S::Error;
    type Future = BoxFuture<Result<Resp, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<LegacyCall>) -> Self::Future {
        let layer = self.layer.clone();
        let mut inner = take(&mut self.inner);
        Box::pin(async move {
            let Some(app) = req
                .extensions()
                .get::<Caller>()
                .and_then(|c| c.credentials.app_code.clone())
            else {
                return Ok(refuse(ShimError::MissingAppCode));
            };
            // Charged by verified identity, else by app code + presented secret.
            let bucket = req.extensions().get::<Caller>().map_or_else(
                || app.clone(),
                |c| {
                    layer
                        .limiter
                        .bucket(&app, c.is_verified(), c.presented_secret())
                },
            );
            let decision = layer.limiter.check_bucket(&app, &bucket).await;
            if decision.degraded {
                layer.metrics.rate_limit_backend_error();
            }
            let mut resp = if decision.allowed {
                inner.call(req).await?
            } else {
                let label = req.extensions().get::<AppLabel>();
                layer
                    .metrics
                    .rate_limited(label.map_or("none", |l| l.0.as_ref()));
                refuse(ShimError::RateLimited {
                    app,
                    retry_after: decision.retry_after_secs.unwrap_or(decision.reset_secs),
                    backend_down: decision.degraded,
                })
            };
            decision.insert_headers(resp.headers_mut());
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Failure;
    use crate::ratelimit::{Rate, RateLimitConfig};
    use crate::translate::Credentials;
    use tower_test::mock;

    fn req(app: &str) -> Request<LegacyCall> {
        let mut r = Request::new(LegacyCall::default());
        let mut caller = Caller::default();
        caller.credentials = Credentials {
            app_code: Some(app.to_owned()),
            ..Credentials::default()
        };
        r.extensions_mut().insert(caller);
        r
    }

    #[tokio::test]
    async fn over_quota_is_refused_without_calling_inner() {
        let mut cfg = RateLimitConfig::default();
        cfg.rates.insert(
            crate::ratelimit::DEFAULT_APP.to_owned(),
            vec![Rate {
                period: 60,
                tokens: 1,
            }],
        );
        let limiter = RateLimiter::new(&cfg).await.map_err(|e| e.to_string());
        let Ok(limiter) = limiter else {
            panic!("limiter: {limiter:?}");
        };
        let layer = RateLimitLayer::new(limiter, Arc::new(Metrics::new("t")));
        let (mut svc, mut handle) = mock::spawn_layer::<Request<LegacyCall>, Resp, _>(layer);

        assert!(svc.poll_ready().is_ready());
        // The layer's future calls the inner service when polled: run it concurrently.
        let first = tokio::spawn(svc.call(req("a")));
        let Some((_, send)) = handle.next_request().await else {
            panic!("the first request reaches the inner service");
        };
        send.send_response(Resp::default());
        let first = first
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        let Ok(first) = first else {
            panic!("{first:?}");
        };
        assert!(first.extensions().get::<Failure>().is_none());
        assert_eq!(first.headers()[crate::ratelimit::HEADER_REMAINING], "0");

        assert!(svc.poll_ready().is_ready());
        let second = svc.call(req("a")).await.map_err(|e| e.to_string());
        let Ok(second) = second else {
            panic!("{second:?}");
        };
        assert!(matches!(
            second.extensions().get::<Failure>(),
            Some(Failure(ShimError::RateLimited { .. }))
        ));
        assert_eq!(second.headers()[crate::ratelimit::HEADER_REMAINING], "0");
    }
}
