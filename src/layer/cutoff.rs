//! The end of the shutdown grace period: every request still in flight is answered at
//! once with [`ShimError::OutcomeUnknown`] (a legacy error saying the call may or may not
//! have reached JOB) instead of being dropped with its connection (an empty reply).
//!
//! The signal is a `watch` channel owned by the process ([`crate::stack::Base`]); the
//! server flips it when `server.shutdown_grace` ends (`crate::server::serve_with`).

use super::{BoxError, BoxFuture, Resp, refuse};
use crate::error::ShimError;
use std::task::{Context, Poll};
use tokio::sync::watch;
use tower::{Layer, Service};

/// Answers in-flight requests when the cut-off channel turns `true`.
#[derive(Debug, Clone)]
pub struct CutoffLayer {
    rx: watch::Receiver<bool>,
}

impl CutoffLayer {
    /// Watch `rx`.
    pub fn new(rx: watch::Receiver<bool>) -> Self {
        Self { rx }
    }
}

impl<S> Layer<S> for CutoffLayer {
    type Service = Cutoff<S>;
    fn layer(&self, inner: S) -> Cutoff<S> {
        Cutoff {
            inner,
            rx: self.rx.clone(),
        }
    }
}

/// The service of [`CutoffLayer`].
#[derive(Debug, Clone)]
pub struct Cutoff<S> {
    inner: S,
    rx: watch::Receiver<bool>,
}

impl<S, Req> Service<Req> for Cutoff<S>
where
    S: Service<Req, Response = Resp>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = Resp;
    type Error = BoxError;
    type Future = BoxFuture<Result<Resp, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let fut = self.inner.call(req);
        let mut rx = self.rx.clone();
        Box::pin(async move {
            tokio::select! {
                biased;
                r = fut => r.map_err(Into::into),
                () = cut(&mut rx) => {
                    tracing::warn!("shutdown grace over: answering an in-flight request as of unknown outcome");
                    Ok(refuse(ShimError::OutcomeUnknown))
                }
            }
        })
    }
}

/// Resolves once `rx` turns `true`; never if its sender is gone without that.
async fn cut(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Failure;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_cut_answers_the_request_in_flight_with_an_unknown_outcome() {
        let (tx, rx) = watch::channel(false);
        let slow = tower::service_fn(|(): ()| async {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            Ok::<_, BoxError>(Resp::default())
        });
        let call = tokio::spawn(CutoffLayer::new(rx).layer(slow).oneshot(()));
        tokio::task::yield_now().await;
        let _ = tx.send(true);
        let resp = call.await.ok().and_then(Result::ok);
        let failure = resp.as_ref().and_then(|r| r.extensions().get::<Failure>());
        assert!(matches!(failure, Some(Failure(ShimError::OutcomeUnknown))));
    }

    #[tokio::test]
    async fn without_a_cut_the_answer_is_the_inner_one() {
        let (tx, rx) = watch::channel(false);
        let fast = tower::service_fn(|(): ()| async { Ok::<_, BoxError>(Resp::default()) });
        let resp = CutoffLayer::new(rx).layer(fast).oneshot(()).await.ok();
        assert!(resp.is_some_and(|r| r.extensions().get::<Failure>().is_none()));
        drop(tx);
    }
}
