//! The real gateway: hyper-util's pooled client (built once per configuration and core,
//! with a pool timer — without it `pool_idle_timeout` does nothing), tower's timeout
//! around the whole exchange, tower's concurrency limit (`upstream.max_in_flight`, inside
//! the timeout: a request waiting for its turn uses up its time), and [`ConnectRetry`].

use super::connector::{Connector, connector};
use super::{MAX_REPLY_BYTES, Reply, UpstreamService};
use crate::config::UpstreamConfig;
use crate::error::UpstreamError;
use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::{Ready, ready};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};

/// The boxed upstream for the stage base `base`. Fails when the TLS files cannot be
/// used (validation has normally said so before).
pub fn service(base: &Uri, cfg: &UpstreamConfig) -> Result<UpstreamService, String> {
    let https = base.scheme_str() == Some("https");
    let client = Client::builder(TokioExecutor::new())
        // A request given back unsent on a reused connection is resent by the client
        // itself (the default, stated); one given back on a fresh connection is retried
        // by [`ConnectRetry`].
        .retry_canceled_requests(true)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(cfg.pool_idle_timeout)
        .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
        .build(connector(cfg, https)?);
    let exchange = Exchange {
        client,
        base: base.to_string().trim_end_matches('/').into(),
    };
    let timeout = cfg.timeout;
    let limited = ServiceBuilder::new()
        .concurrency_limit(cfg.max_in_flight)
        .retry(ConnectRetry { left: 1 })
        .service(exchange);
    // The limit's wait happens in `poll_ready`, which tower's timeout does not time:
    // `oneshot` makes the wait part of the call the timeout covers.
    let svc = ServiceBuilder::new()
        .map_err(move |e: tower::BoxError| to_upstream_error(e, timeout))
        .timeout(timeout)
        .service_fn(move |req| limited.clone().oneshot(req));
    Ok(BoxCloneSyncService::new(svc))
}

fn to_upstream_error(e: tower::BoxError, timeout: Duration) -> UpstreamError {
    if e.is::<tower::timeout::error::Elapsed>() {
        return UpstreamError::Timeout(timeout);
    }
    match e.downcast::<Failed>() {
        Ok(f) => f.error,
        Err(other) => UpstreamError::Reset(other.to_string()),
    }
}

/// How far an exchange got before it failed: what decides whether it may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Nothing was written: the connect failed, or the pooled connection was found
    /// closed before the request went out (hyper gives the request back).
    NotSent,
    /// The request may have been written, no reply byte was read.
    NoReply,
    /// A reply head arrived (the body broke, or was too large).
    Replied,
    /// TLS or the egress proxy failed: never retried.
    Transport,
}

/// An exchange error with the [`Stage`] it happened at.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Failed {
    /// What went wrong.
    pub error: UpstreamError,
    /// How far the exchange got.
    pub stage: Stage,
}

impl Failed {
    fn at(stage: Stage, error: UpstreamError) -> Failed {
        Failed { error, stage }
    }
}

/// One exchange: send, then read the whole reply (at most [`MAX_REPLY_BYTES`]).
#[derive(Clone)]
pub struct Exchange {
    client: Client<Connector, Full<Bytes>>,
    /// Shared: the stack is cloned for every exchange (twice, with the limit's `oneshot`).
    base: std::sync::Arc<str>,
}

impl Service<Request<Bytes>> for Exchange {
    type Response = Reply;
    type Error = Failed;
    type Future = super::super::layer::BoxFuture<Result<Reply, Failed>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let client = self.client.clone();
        let (mut parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri = format!("{}{}", self.base, path).parse::<Uri>();
        Box::pin(async move {
            parts.uri = uri.map_err(|e| {
                Failed::at(
                    Stage::Replied,
                    UpstreamError::Connect(format!("invalid upstream URI: {e}")),
                )
            })?;
            let req = Request::from_parts(parts, Full::new(body));
            let resp = client.oneshot(req).await.map_err(|e| classify(&e))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_REPLY_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    Failed::at(
                        Stage::Replied,
                        UpstreamError::Reset(format!("reading reply body: {e}")),
                    )
                })?
                .to_bytes();
            Ok(Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        })
    }
}

/// The retry policy (issue: no phantom failures, no duplicated starts):
/// * a request that was never written ([`Stage::NotSent`]) is retried once, whatever its
///   method: it cannot have reached the gateway;
/// * a GET (a read: status, logs, lists) that failed before any reply byte
///   ([`Stage::NoReply`], typically a pooled connection the gateway closed as it was
///   reused) is retried once;
/// * anything else, above all a POST that may have been written, never: an execution
///   must not run twice. hyper-util's client cannot say whether the failing connection
///   was a reused one, so the GET rule applies to fresh connections too (reads are
///   idempotent).
#[derive(Debug, Clone, Copy)]
pub struct ConnectRetry {
    left: u8,
}

impl tower::retry::Policy<Request<Bytes>, Reply, Failed> for ConnectRetry {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        req: &mut Request<Bytes>,
        result: &mut Result<Reply, Failed>,
    ) -> Option<Self::Future> {
        let Err(f) = result else { return None };
        let again = match f.stage {
            Stage::NotSent => true,
            Stage::NoReply => req.method() == http::Method::GET,
            Stage::Replied | Stage::Transport => false,
        };
        if !again || self.left == 0 {
            return None;
        }
        self.left -= 1;
        tracing::debug!(error = %f.error, stage = ?f.stage, "retrying the upstream request");
        Some(ready(()))
    }

    fn clone_request(&mut self, req: &Request<Bytes>) -> Option<Request<Bytes>> {
        let mut r = Request::new(req.body().clone());
        *r.method_mut() = req.method().clone();
        *r.uri_mut() = req.uri().clone();
        *r.headers_mut() = req.headers().clone();
        Some(r)
    }
}

/// Turn a client error into a [`Failed`] with its stage: a TLS or egress-proxy failure
/// with its cause (never retried: retrying cannot fix a certificate, and a TLS error
/// after the handshake may come after the request was sent), else the root cause's text.
fn classify(e: &hyper_util::client::legacy::Error) -> Failed {
    if let Some(f) = crate::tls::classify(e) {
        let error = UpstreamError::Transport {
            kind: f.kind.label(),
            cause: f.cause,
        };
        return Failed::at(Stage::Transport, error);
    }
    let mut cause = String::new();
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    if e.is_connect() {
        Failed::at(Stage::NotSent, UpstreamError::Connect(cause))
    } else if never_sent(e) {
        Failed::at(Stage::NotSent, UpstreamError::Reset(cause))
    } else {
        Failed::at(Stage::NoReply, UpstreamError::Reset(cause))
    }
}

/// True when hyper gave the request back unsent (the client's `Canceled` kind: the
/// connection closed before the request was written). hyper-util keeps the kind
/// private; its `Debug` names it.
fn never_sent(e: &hyper_util::client::legacy::Error) -> bool {
    format!("{e:?}").starts_with("hyper_util::client::legacy::Error(Canceled")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::retry::Policy;

    fn failed(stage: Stage) -> Result<Reply, Failed> {
        Err(Failed::at(stage, UpstreamError::Reset("x".into())))
    }

    fn request(method: http::Method) -> Request<Bytes> {
        let mut r = Request::new(Bytes::new());
        *r.method_mut() = method;
        r
    }

    #[test]
    fn an_unsent_request_is_retried_once_whatever_its_method() {
        for m in [http::Method::POST, http::Method::GET] {
            let mut p = ConnectRetry { left: 1 };
            let mut req = request(m);
            assert!(p.retry(&mut req, &mut failed(Stage::NotSent)).is_some());
            assert!(p.retry(&mut req, &mut failed(Stage::NotSent)).is_none());
        }
    }

    #[test]
    fn a_post_that_may_have_been_written_is_never_retried() {
        let mut p = ConnectRetry { left: 1 };
        let mut req = request(http::Method::POST);
        assert!(p.retry(&mut req, &mut failed(Stage::NoReply)).is_none());
        assert!(p.retry(&mut req, &mut failed(Stage::Replied)).is_none());
    }

    #[test]
    fn a_get_without_a_reply_byte_is_retried_once() {
        let mut p = ConnectRetry { left: 1 };
        let mut req = request(http::Method::GET);
        assert!(p.retry(&mut req, &mut failed(Stage::Replied)).is_none());
        assert!(p.retry(&mut req, &mut failed(Stage::NoReply)).is_some());
        assert!(p.retry(&mut req, &mut failed(Stage::NoReply)).is_none());
    }
}
