//! `[server]`: listeners, request limits and deadlines, connection and concurrency caps.

use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the legacy API listener.
    pub listen: SocketAddr,
    /// Address of the admin listener (`/metrics`, `/healthz`, `/livez`, `/readyz`).
    pub admin_listen: SocketAddr,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// How long in-flight requests may run after SIGTERM/SIGINT (default 35 s: above the
    /// default `upstream.timeout`). Requests still in flight then are answered `1306201`
    /// "outcome unknown" and the exit status is 75.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Time allowed to read request headers.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Time allowed to read a request body.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Whole-request deadline: body, every upstream call of the request, the reply.
    /// Expiry answers `1306201`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Open client connections per listener; further connections are closed at once.
    pub max_connections: usize,
    /// Requests processed at once; a request beyond this is answered at once with
    /// `1306429` ("the shim is busy") instead of waiting in a queue.
    pub max_in_flight: usize,
    /// Most elements of one JSON array (hosts of a host list) in a request body; more is
    /// refused (`1306406`) before a tree is built.
    pub max_hosts: usize,
    /// Request bodies over 1 MiB buffered and parsed at once; one more is refused at once
    /// (`1306406`, HTTP 503) instead of growing memory.
    pub max_large_bodies: usize,
    /// Threads serving the API, each with its own runtime, listener (`SO_REUSEPORT`) and
    /// upstream pool (`crate::cores`); 0 = one per CPU. A sidecar sharing a Pod's CPUs
    /// often does best with 1. Taken at start only.
    pub worker_threads: usize,
    /// `[server.tls]`: serve the API listener over TLS (certificate re-read on SIGHUP).
    pub tls: crate::tls::ServerTls,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            max_body_bytes: 10 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(35),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(120),
            max_connections: 10_000,
            max_in_flight: 10_000,
            max_hosts: 10_000,
            max_large_bodies: 4,
            worker_threads: 0,
            tls: crate::tls::ServerTls::default(),
        }
    }
}

impl ServerConfig {
    /// Every rule of `[server]`.
    pub fn validate(&self, p: &mut Vec<String>) {
        if self.max_connections == 0 {
            p.push("server.max_connections must be > 0".to_owned());
        }
        if self.max_connections > 1_000_000 {
            p.push("server.max_connections must be at most 1000000".to_owned());
        }
        if self.max_in_flight == 0 || self.max_in_flight > 1_000_000 {
            p.push("server.max_in_flight must be between 1 and 1000000".to_owned());
        }
        if self.body_read_timeout.is_zero() || self.header_read_timeout.is_zero() {
            p.push("server.header_read_timeout and body_read_timeout must be > 0".to_owned());
        }
        if self.request_timeout.is_zero() {
            p.push("server.request_timeout must be > 0".to_owned());
        }
        if self.max_hosts == 0 || self.max_large_bodies == 0 {
            p.push("server.max_hosts and server.max_large_bodies must be > 0".to_owned());
        }
        if self.max_body_bytes == 0 {
            p.push("server.max_body_bytes must be > 0".to_owned());
        }
        p.extend(self.tls.validate());
    }
}
