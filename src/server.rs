//! The one accept loop, for the API listener, the admin listener, the standalone
//! emulator and the test harness.
//!
//! Each connection is served by hyper-util's `auto::Builder`, HTTP/1.1 only, with a timer
//! (required for the header-read timeout), through `TowerToHyperService`, and watched by
//! a `GracefulShutdown`. Over `limits.max_connections` open connections a new one is
//! closed at once. When `shutdown` resolves the listener is closed (new connections are
//! refused), idle keep-alive connections are closed, and in-flight requests get
//! `limits.grace` to finish. A request in flight is not cancelled when its client shuts
//! its side of the connection: it runs to its end (bounded by `server.request_timeout`)
//! and the reply is written if the client still reads. Each request carries its [`Peer`]
//! address as an extension.
//! [`serve_with`] does the same over TLS (`[server.tls]`), with a cut-off and with the
//! connection places shared between the listeners of the cores (`crate::cores`).

use crate::tls::TlsAcceptor;
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{BoxError, Service, ServiceExt};

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

/// What the accept loop serves: a cloneable tower service of hyper requests, answering
/// with a [`ReplyBody`].
pub trait HttpService<B>:
    Service<
        Request<Incoming>,
        Response = Response<B>,
        Future: Send + 'static,
        Error: Into<BoxError>,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S, B> HttpService<B> for S where
    S: Service<
            Request<Incoming>,
            Response = Response<B>,
            Future: Send + 'static,
            Error: Into<BoxError>,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// The body of a reply the accept loop writes.
pub trait ReplyBody:
    hyper::body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static
{
}

impl<B> ReplyBody for B where
    B: hyper::body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static
{
}

/// Request extension: the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// Time given to connections to write the answers of a cut-off (after the grace).
pub const CUTOFF_FLUSH: Duration = Duration::from_secs(2);

/// Serve `service` on `listener` until `shutdown` resolves, then drain for at most
/// `limits.grace`. Returns whether every connection finished in time.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> bool
where
    S: HttpService<B>,
    B: ReplyBody,
{
    serve_with(listener, service, limits, shutdown, Options::default()).await
}

/// What the API listener adds to [`serve`].
#[derive(Clone, Default)]
pub struct Options {
    /// Serve over TLS: each connection's handshake runs in its own task within
    /// `limits.header_read_timeout`; the certificate is whatever the acceptor serves at
    /// that moment (see [`TlsAcceptor::reload`]).
    pub tls: Option<TlsAcceptor>,
    /// Turned `true` when the grace ends with requests in flight (the stack then answers
    /// them at once, `crate::layer::cutoff`); the connections get [`CUTOFF_FLUSH`] more to
    /// write those answers.
    pub cutoff: Option<Arc<tokio::sync::watch::Sender<bool>>>,
    /// Places under `limits.max_connections` shared with other listeners of the same
    /// address (one per core, `crate::cores`); the listener's own when `None`.
    pub slots: Option<Arc<Semaphore>>,
}

/// The places of `limits.max_connections`, for listeners that share them
/// ([`Options::slots`]).
pub fn connection_slots(limits: &Limits) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(limits.max_connections))
}

/// [`serve`] with `options`. Returns whether every connection finished within the grace
/// (a cut-off drain is not complete).
pub async fn serve_with<S, B>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
    options: Options,
) -> bool
where
    S: HttpService<B>,
    B: ReplyBody,
{
    let Options { tls, cutoff, slots } = options;
    let slots = slots.unwrap_or_else(|| connection_slots(&limits));
    let graceful = GracefulShutdown::new();
    // HTTP/1.1 only: legacy ESB clients never spoke h2c, and without protocol sniffing a
    // connection that sends nothing is covered by the header-read timeout.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // A request is carried to its end even when the client shuts its side (or goes
        // away) meanwhile: a job start that reached the gateway is answered and logged,
        // never dropped midway. It also spares the second read buffer hyper would hold
        // per request in flight to watch for that end-of-file (BENCHMARKS.md, Memory).
        .half_close(true);
    let mut shutdown = std::pin::pin!(shutdown);
    while let Some((stream, peer)) = accept(&listener, &mut shutdown).await {
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max_connections, "too many connections: closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            builder: builder.clone(),
            watcher: graceful.watcher(),
            slot,
            peer,
            handshake_timeout: limits.header_read_timeout,
        };
        conn.spawn(stream, service.clone(), tls.clone());
    }
    drop(listener);
    drain(graceful, limits.grace, cutoff).await
}

/// The next connection, or `None` once `shutdown` has resolved. Accept errors (EMFILE
/// and friends) back off instead of spinning.
async fn accept<F: Future<Output = ()>>(
    listener: &TcpListener,
    shutdown: &mut std::pin::Pin<&mut F>,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => return Some(a),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = shutdown.as_mut() => return None,
        }
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    builder: auto::Builder<TokioExecutor>,
    watcher: Watcher,
    /// Its place under `limits.max_connections`, released when it ends.
    slot: OwnedSemaphorePermit,
    peer: SocketAddr,
    /// Time allowed for the TLS handshake.
    handshake_timeout: Duration,
}

impl Connection {
    /// Serves the connection in its own task (after the TLS handshake when `tls` is set),
    /// each request carrying the [`Peer`].
    fn spawn<S, B>(self, stream: TcpStream, service: S, tls: Option<TlsAcceptor>)
    where
        S: HttpService<B>,
        B: ReplyBody,
    {
        let Connection {
            builder,
            watcher,
            slot,
            peer,
            handshake_timeout,
        } = self;
        let svc =
            TowerToHyperService::new(service.map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                req
            }));
        tokio::spawn(async move {
            let served = match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream));
                    let stream = match handshake.await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            return tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
}

/// After the listener closed: waits at most `grace` for the connections to finish; then,
/// with a `cutoff`, has the requests still in flight answered and gives the connections
/// [`CUTOFF_FLUSH`] to write those answers. Returns whether the drain was complete.
async fn drain(
    graceful: GracefulShutdown,
    grace: Duration,
    cutoff: Option<Arc<tokio::sync::watch::Sender<bool>>>,
) -> bool {
    let drained = graceful.shutdown();
    let mut drained = std::pin::pin!(drained);
    tokio::select! {
        () = &mut drained => return true,
        () = tokio::time::sleep(grace) => {}
    }
    let Some(cutoff) = cutoff else {
        tracing::warn!(
            ?grace,
            "grace period over: closing connections with requests in flight"
        );
        return false;
    };
    tracing::warn!(
        ?grace,
        "grace period over: answering requests in flight as of unknown outcome"
    );
    cutoff.send_replace(true);
    if tokio::time::timeout(CUTOFF_FLUSH, drained).await.is_err() {
        tracing::warn!("connections still open after the cut-off answers: closing them");
    }
    false
}
