//! The upstream gateway: one pooled hyper-util client (or the in-process stub).
//!
//! * One [`Client`] per configuration, built at startup, with a pool timer (without it
//!   `pool_idle_timeout` does nothing), idle timeout, connect timeout and `TCP_NODELAY`.
//! * `upstream.timeout` bounds the whole exchange: connect, send, response head and body.
//! * Requests are built from scratch by the proxy with an allow-list of headers, so no
//!   hop-by-hop header (`Connection`, `Keep-Alive`, `TE`, `Upgrade`, `Proxy-*`, …) of the
//!   client ever reaches the gateway, and none of the gateway's reaches the client.
//! * Retries: only when the connection could not be established (nothing was sent), once.
//!   A request that reached the upstream is never retried: an execution must not run twice.

use crate::config::UpstreamConfig;
use crate::error::UpstreamError;
use crate::stub::{StubGateway, StubOptions};
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::Arc;
use std::time::Duration;

/// Largest upstream reply body read (logs can be large).
pub const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// A complete upstream reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Whole body.
    pub body: Bytes,
}

/// Where translated requests go.
#[derive(Clone)]
pub enum Upstream {
    /// The built-in emulator, called in-process.
    Stub(Arc<StubGateway>),
    /// A real gateway over HTTP.
    Http(Box<HttpUpstream>),
}

/// A real gateway: stage base URL + pooled client.
#[derive(Clone)]
pub struct HttpUpstream {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    timeout: Duration,
}

impl Upstream {
    /// Build from configuration. `stub` reuses `stub` when given (its job state survives
    /// config reloads).
    pub fn new(cfg: &UpstreamConfig, stub: Option<Arc<StubGateway>>) -> Upstream {
        if cfg.url == "stub" {
            return Upstream::Stub(
                stub.unwrap_or_else(|| Arc::new(StubGateway::new(StubOptions::default()))),
            );
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(cfg.connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(cfg.pool_idle_timeout)
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            .build(connector);
        Upstream::Http(Box::new(HttpUpstream {
            client,
            base: cfg.url.trim_end_matches('/').to_owned(),
            timeout: cfg.timeout,
        }))
    }

    /// Short description for logs. Safe to print: configuration validation rejects
    /// upstream URLs that carry credentials.
    pub fn describe(&self) -> String {
        match self {
            Upstream::Stub(_) => "stub (built-in emulator)".to_owned(),
            Upstream::Http(h) => h.base.clone(),
        }
    }

    /// Send `req` (its URI is a path + query such as `/api/v3/execute_job_plan`).
    pub async fn send(&self, req: Request<Bytes>) -> Result<Reply, UpstreamError> {
        match self {
            Upstream::Stub(stub) => {
                let resp = stub.handle(req);
                let (parts, body) = resp.into_parts();
                Ok(Reply {
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body,
                })
            }
            Upstream::Http(h) => h.send(req).await,
        }
    }
}

impl HttpUpstream {
    async fn send(&self, req: Request<Bytes>) -> Result<Reply, UpstreamError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.exchange(req)).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout(timeout)),
        }
    }

    async fn exchange(&self, req: Request<Bytes>) -> Result<Reply, UpstreamError> {
        let (parts, body) = req.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri: http::Uri = format!("{}{}", self.base, path)
            .parse()
            .map_err(|e| UpstreamError::Connect(format!("invalid upstream URI: {e}")))?;
        let build = || {
            let mut r = Request::new(Full::new(body.clone()));
            *r.method_mut() = parts.method.clone();
            *r.uri_mut() = uri.clone();
            *r.headers_mut() = parts.headers.clone();
            r
        };
        let resp = match self.client.request(build()).await {
            Ok(r) => r,
            // Nothing was sent: one more attempt on a fresh connection is safe.
            Err(e) if e.is_connect() => match self.client.request(build()).await {
                Ok(r) => r,
                Err(e) => return Err(classify(&e)),
            },
            Err(e) => return Err(classify(&e)),
        };
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
    }
}

/// Turn a client error into an [`UpstreamError`] with the root cause's text.
fn classify(e: &hyper_util::client::legacy::Error) -> UpstreamError {
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
