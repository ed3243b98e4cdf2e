//! Accept loops for the API and admin listeners, with graceful shutdown.
//!
//! Each connection is served by hyper-util's `auto::Builder`, HTTP/1.1 only, with a
//! timer (required for the header-read timeout) and watched by a `GracefulShutdown`. When
//! the shutdown signal fires the listener is closed (new connections are refused), idle
//! keep-alive connections are closed, and in-flight requests get `grace` to finish.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

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

/// Serve `handler` on `listener` until `shutdown` flips to `true`, then drain for at most
/// `limits.grace`. Returns whether every connection finished in time.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    handler: F,
    mut shutdown: watch::Receiver<bool>,
    limits: Limits,
) -> bool
where
    F: Fn(SocketAddr, Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
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
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, max = limits.max_connections, "too many connections: closing");
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let h = handler.clone();
                    let svc = service_fn(move |req| {
                        let h = h.clone();
                        async move { Ok::<_, Infallible>(h(peer, req).await) }
                    });
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), svc)
                        .into_owned();
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                        drop(slot);
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
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
