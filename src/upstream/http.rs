//! The real gateway: hyper-util's pooled client (built once per configuration, with a
//! pool timer — without it `pool_idle_timeout` does nothing), tower's timeout around the
//! whole exchange, and [`ConnectRetry`].

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
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(cfg.pool_idle_timeout)
        .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
        .build(connector(cfg, https)?);
    let exchange = Exchange {
        client,
        base: base.to_string().trim_end_matches('/').to_owned(),
    };
    let timeout = cfg.timeout;
    let svc = ServiceBuilder::new()
        .map_err(move |e: tower::BoxError| to_upstream_error(e, timeout))
        .timeout(timeout)
        .retry(ConnectRetry { left: 1 })
        .service(exchange);
    Ok(BoxCloneSyncService::new(svc))
}

fn to_upstream_error(e: tower::BoxError, timeout: Duration) -> UpstreamError {
    if e.is::<tower::timeout::error::Elapsed>() {
        return UpstreamError::Timeout(timeout);
    }
    match e.downcast::<UpstreamError>() {
        Ok(u) => *u,
        Err(other) => UpstreamError::Reset(other.to_string()),
    }
}

/// One exchange: send, then read the whole reply (at most [`MAX_REPLY_BYTES`]).
#[derive(Clone)]
pub struct Exchange {
    client: Client<Connector, Full<Bytes>>,
    base: String,
}

impl Service<Request<Bytes>> for Exchange {
    type Response = Reply;
    type Error = UpstreamError;
    type Future = super::super::layer::BoxFuture<Result<Reply, UpstreamError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let client = self.client.clone();
        let (mut parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri = format!("{}{}", self.base, path).parse::<Uri>();
        Box::pin(async move {
            parts.uri =
                uri.map_err(|e| UpstreamError::Connect(format!("invalid upstream URI: {e}")))?;
            let req = Request::from_parts(parts, Full::new(body));
            let resp = client.oneshot(req).await.map_err(|e| classify(&e))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_REPLY_BYTES)
                .collect()
                .await
                .map_err(|e| UpstreamError::Reset(format!("reading reply body: {e}")))?
                .to_bytes();
            Ok(Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        })
    }
}

/// Retries a request whose connection could not be established (nothing was sent), at
/// most `left` times; never anything else.
#[derive(Debug, Clone, Copy)]
pub struct ConnectRetry {
    left: u8,
}

impl tower::retry::Policy<Request<Bytes>, Reply, UpstreamError> for ConnectRetry {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _req: &mut Request<Bytes>,
        result: &mut Result<Reply, UpstreamError>,
    ) -> Option<Self::Future> {
        match result {
            Err(UpstreamError::Connect(_)) if self.left > 0 => {
                self.left -= 1;
                Some(ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &Request<Bytes>) -> Option<Request<Bytes>> {
        let mut r = Request::new(req.body().clone());
        *r.method_mut() = req.method().clone();
        *r.uri_mut() = req.uri().clone();
        *r.headers_mut() = req.headers().clone();
        Some(r)
    }
}

/// Turn a client error into an [`UpstreamError`]: a TLS or egress-proxy failure with its
/// cause (never retried: retrying cannot fix a certificate, and a TLS error after the
/// handshake may come after the request was sent), else the root cause's text.
fn classify(e: &hyper_util::client::legacy::Error) -> UpstreamError {
    if let Some(f) = crate::tls::classify(e) {
        return UpstreamError::Transport {
            kind: f.kind.label(),
            cause: f.cause,
        };
    }
    let mut cause = String::new();
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    if e.is_connect() {
        UpstreamError::Connect(cause)
    } else {
        UpstreamError::Reset(cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::retry::Policy;

    #[test]
    fn only_failed_connects_are_retried_once() {
        let mut p = ConnectRetry { left: 1 };
        let mut req = Request::new(Bytes::new());
        let mut connect: Result<Reply, UpstreamError> = Err(UpstreamError::Connect("x".into()));
        let mut reset: Result<Reply, UpstreamError> = Err(UpstreamError::Reset("x".into()));
        assert!(p.retry(&mut req, &mut reset).is_none());
        assert!(p.retry(&mut req, &mut connect).is_some());
        assert!(p.retry(&mut req, &mut connect).is_none());
    }
}
