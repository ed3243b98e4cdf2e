//! The one accept loop, for the API listener, the admin listener, the standalone
//! emulator and the test harness.
//!
//! Each connection is served by hyper-util's `auto::Builder`, HTTP/1.1 only, with a timer
//! (required for the header-read timeout), through `TowerToHyperService`, and watched by
//! a `GracefulShutdown`. Over `limits.max_connections` open connections a new one is
//! closed at once. When `shutdown` resolves the listener is closed (new connections are
//! refused), idle keep-alive connections are closed, and in-flight requests get
//! `limits.grace` to finish. Each request carries its [`Peer`] address as an extension.
//! [`serve_tls`] does the same over TLS (`[server.tls]`).

use crate::tls::TlsAcceptor;
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

/// Connection settings of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Drain time after the shutdown signal.
    pub grace: Duration,
    /// Time allowed for a request's headers (HTTP/1).
    pub header_read_timeout: Duration,
    /// Open connections; further ones are closed at once.
    pub max_connections: usize,
}

impl Limits {
    /// The limits of `[server]`.
    pub fn of(server: &crate::config::ServerConfig) -> Limits {
        Limits {
            grace: server.shutdown_grace,
            header_read_timeout: server.header_read_timeout,
            max_connections: server.max_connections,
        }
    }
}

/// Request extension: the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// Serve `service` on `listener` until `shutdown` resolves, then drain for at most
/// `limits.grace`. Returns whether every connection finished in time.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> bool
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    serve_tls(listener, service, limits, shutdown, None).await
}

/// [`serve`], over TLS when `tls` is set: each connection's handshake runs in its own task
/// within `limits.header_read_timeout`; the certificate is whatever `tls` serves at that
/// moment (see [`TlsAcceptor::reload`]).
pub async fn serve_tls<S, B>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
    tls: Option<TlsAcceptor>,
) -> bool
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    // HTTP/1.1 only: legacy ESB clients never spoke h2c, and without protocol sniffing a
    // connection that sends nothing is covered by the header-read timeout.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max_connections, "too many connections: closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = service
            .clone()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                req
            });
        if let Some(acceptor) = &tls {
            let handshake = tokio::time::timeout(limits.header_read_timeout, {
                let acceptor = acceptor.clone();
                async move { acceptor.accept(stream).await }
            });
            let (builder, watcher) = (builder.clone(), graceful.watcher());
            tokio::spawn(async move {
                let stream = match handshake.await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        return tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    }
                    Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                };
                let conn = builder
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                    .into_owned();
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                drop(slot);
            });
            continue;
        }
        let conn = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => true,
        () = tokio::time::sleep(limits.grace) => {
            tracing::warn!(grace = ?limits.grace, "grace period over: closing connections with requests in flight");
            false
        }
    }
}
