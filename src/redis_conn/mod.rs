//! The one Redis connection of a shim: shared by the rate limiter and the job cache.
//!
//! Built from the Redis keys of `[rate_limit]` ([`RedisSettings`]), for every topology:
//!
//! * **standalone** — `redis_url = "redis://[user:password@]host:port/db"` (ACL user and
//!   password, or password only), `rediss://…` for TLS; a `redis::aio::ConnectionManager`
//!   that reconnects by itself;
//! * **Sentinel** — `redis_sentinels` + `redis_master_name`: the master is asked of the
//!   sentinels, and asked again after a failure (so a failover is followed); `redis_url`
//!   then only gives the master's user, password, database and TLS;
//! * **Cluster** — `redis_cluster_nodes`: seed nodes of a Redis Cluster
//!   (`redis::cluster_async`, which follows slot moves and node failures).
//!
//! TLS (`rediss://`) is rustls with the `ring` provider (no OpenSSL): the system trust
//! store, or `[rate_limit.redis_tls] ca_file`, plus an optional client certificate;
//! verification is always on. Nothing here logs or returns a URL with its password.
//!
//! Every call goes through [`RedisConn::call`]: a circuit breaker (see [`breaker`]), then
//! the call under one timeout (connecting included). So during an outage only one probe
//! per `open_for` pays the timeout; everything else fails at once and the callers decide
//! (`fail_open` for the limiter, the in-process map for the job cache). The connection
//! never needs Redis to be up when it is built.
//!
//! Keys are namespaced with [`RedisConn::prefix`] (`rate_limit.redis_prefix`), so shims
//! of different environments can share one Redis.

pub mod breaker;
mod sentinel;
pub mod settings;

pub use breaker::BreakerConfig;
pub use settings::{RedisSettings, RedisTlsConfig, SettingsError, Topology, redact};

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterConfig;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Client, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use breaker::Breaker;
use sentinel::SentinelLink;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Tunables of the connection that are not in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisOptions {
    /// Longest wait for one call, connecting included. Default 200 ms.
    pub timeout: Duration,
    /// Longest wait for one TCP (+TLS) connect. Default 1 s.
    pub connect_timeout: Duration,
    /// The circuit breaker.
    pub breaker: BreakerConfig,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(1),
            breaker: BreakerConfig::default(),
        }
    }
}

/// Why a call did not give an answer. Its text never holds a password.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The circuit is open: Redis was not asked.
    #[error("redis circuit open")]
    Open,
    /// No answer within the call timeout.
    #[error("no answer from redis within {0:?}")]
    Timeout(Duration),
    /// Redis (or the connection) answered with an error.
    #[error("redis: {0}")]
    Redis(#[source] RedisError),
}

/// The shared connection. Cheap to clone.
#[derive(Clone)]
pub struct RedisConn {
    inner: Arc<Inner>,
}

struct Inner {
    link: Link,
    breaker: Breaker,
    timeout: Duration,
    prefix: String,
    topology: Topology,
    settings: RedisSettings,
    /// The TLS files' contents when built (a reload compares them).
    tls_files: Option<TlsFiles>,
}

/// CA bundle, client certificate and key, as read.
type TlsFiles = (Option<Vec<u8>>, Option<(Vec<u8>, Vec<u8>)>);

fn tls_files(settings: &RedisSettings) -> Result<Option<TlsFiles>, SettingsError> {
    Ok(settings.certificates()?.map(|c| {
        (
            c.root_cert,
            c.client_tls.map(|t| (t.client_cert, t.client_key)),
        )
    }))
}

enum Link {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(Box<SentinelLink>),
}

/// One connection handle, lent to a call: standalone, cluster or the Sentinel master.
#[derive(Clone)]
pub enum Handle {
    /// A standalone server.
    Standalone(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
    /// The master named by the sentinels.
    Master(::redis::aio::MultiplexedConnection),
}

impl ConnectionLike for Handle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Handle::Standalone(c) => c.req_packed_command(cmd),
            Handle::Cluster(c) => c.req_packed_command(cmd),
            Handle::Master(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Handle::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Handle::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Handle::Master(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Handle::Standalone(c) => c.get_db(),
            Handle::Cluster(c) => c.get_db(),
            Handle::Master(c) => c.get_db(),
        }
    }
}

impl RedisConn {
    /// A connection for `settings`. Does not wait for Redis (it may be down at start);
    /// fails only on settings that can never work (bad URL, unreadable TLS files).
    pub fn connect(settings: &RedisSettings, opts: &RedisOptions) -> Result<Self, SettingsError> {
        let problems = settings.problems();
        if !problems.is_empty() {
            return Err(SettingsError(problems.join("; ")));
        }
        install_crypto_provider();
        let topology = settings.topology();
        let link = match topology {
            Topology::Standalone => Link::Standalone(standalone(settings, opts)?),
            Topology::Cluster => Link::Cluster(cluster(settings, opts)?),
            Topology::Sentinel => Link::Sentinel(Box::new(SentinelLink::new(
                settings,
                opts.connect_timeout,
                opts.timeout,
            )?)),
        };
        tracing::debug!(settings = ?settings, topology = topology.name(), "redis: connection built");
        Ok(Self {
            inner: Arc::new(Inner {
                link,
                breaker: Breaker::new(opts.breaker),
                timeout: opts.timeout,
                prefix: settings.prefix.clone(),
                topology,
                settings: settings.clone(),
                tls_files: tls_files(settings)?,
            }),
        })
    }

    /// On reload: `previous` when it was built from the same settings and the TLS files
    /// still hold the same bytes (the connection, and its breaker, carry over), else a
    /// new connection. The limiter and the job cache must then both use the result.
    pub fn reuse_or_connect(
        settings: &RedisSettings,
        opts: &RedisOptions,
        previous: Option<&RedisConn>,
    ) -> Result<Self, SettingsError> {
        if let Some(p) = previous {
            if p.inner.settings == *settings && p.inner.tls_files == tls_files(settings)? {
                return Ok(p.clone());
            }
        }
        Self::connect(settings, opts)
    }

    /// Runs `op` on a connection handle, through the breaker and under the call timeout.
    pub async fn call<T, F, Fut>(&self, op: F) -> Result<T, CallError>
    where
        F: FnOnce(Handle) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let ticket = self.inner.breaker.acquire().map_err(|_| CallError::Open)?;
        let work = async {
            let handle = self.handle().await?;
            op(handle).await
        };
        match tokio::time::timeout(self.inner.timeout, work).await {
            Ok(Ok(v)) => {
                ticket.success();
                Ok(v)
            }
            Ok(Err(e)) => {
                self.on_error(&e);
                ticket.failure(&e.to_string());
                Err(CallError::Redis(e))
            }
            Err(_) => {
                if let Link::Sentinel(s) = &self.inner.link {
                    s.invalidate();
                }
                ticket.failure("timeout");
                Err(CallError::Timeout(self.inner.timeout))
            }
        }
    }

    /// Whether `self` and `other` are the same connection (clones of one another).
    pub fn same_as(&self, other: &RedisConn) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The key namespace (`rate_limit.redis_prefix`), e.g. `bk-job-shim`.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The deployment this connection talks to.
    pub fn topology(&self) -> Topology {
        self.inner.topology
    }

    /// The settings it was built from (to tell whether a reload changes them).
    pub fn settings(&self) -> &RedisSettings {
        &self.inner.settings
    }

    /// Whether the circuit breaker currently refuses calls.
    pub fn circuit_open(&self) -> bool {
        self.inner.breaker.is_open()
    }

    /// Calls refused at once by the open circuit, since this connection was built.
    pub fn short_circuited(&self) -> u64 {
        self.inner.breaker.short_circuited()
    }

    /// Times the circuit opened (outages seen), since this connection was built.
    pub fn times_opened(&self) -> u64 {
        self.inner.breaker.times_opened()
    }

    async fn handle(&self) -> RedisResult<Handle> {
        Ok(match &self.inner.link {
            Link::Standalone(c) => Handle::Standalone(c.clone()),
            Link::Cluster(c) => Handle::Cluster(c.clone()),
            Link::Sentinel(s) => Handle::Master(s.get().await?),
        })
    }

    /// After a failed call on the Sentinel master, ask the sentinels again next time
    /// (the master may have changed; a demoted one answers `READONLY`).
    fn on_error(&self, e: &RedisError) {
        if let Link::Sentinel(s) = &self.inner.link {
            let server_said_so = matches!(e.kind(), ErrorKind::Server(_)) && !is_readonly(e);
            if !server_said_so {
                s.invalidate();
            }
        }
    }
}

fn is_readonly(e: &RedisError) -> bool {
    e.code() == Some("READONLY") || e.to_string().contains("READONLY")
}

fn bad_url(key: &str) -> SettingsError {
    SettingsError(format!("{key}: not a valid Redis URL"))
}

fn standalone(s: &RedisSettings, opts: &RedisOptions) -> Result<ConnectionManager, SettingsError> {
    let client = match s.certificates()? {
        Some(certs) => Client::build_with_tls(s.url.as_str(), certs),
        None => Client::open(s.url.as_str()),
    }
    .map_err(|_| bad_url("rate_limit.redis_url"))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(opts.connect_timeout))
        .set_response_timeout(Some(opts.timeout))
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_lazy_with_config(client, config)
        .map_err(|_| bad_url("rate_limit.redis_url"))
}

fn cluster(s: &RedisSettings, opts: &RedisOptions) -> Result<ClusterConnection, SettingsError> {
    let mut b =
        ::redis::cluster::ClusterClient::builder(s.cluster_nodes.iter().map(String::as_str))
            .connection_timeout(opts.connect_timeout)
            .response_timeout(opts.timeout);
    if let Some(certs) = s.certificates()? {
        b = b.certs(certs);
    }
    let client = b.build().map_err(|e| {
        SettingsError(format!(
            "rate_limit.redis_cluster_nodes: {}",
            e.detail().unwrap_or("invalid")
        ))
    })?;
    let config = ClusterConfig::new()
        .set_connection_timeout(opts.connect_timeout)
        .set_response_timeout(opts.timeout);
    Ok(client.get_pending_async_connection_with_config(config))
}

/// rustls needs one process-wide crypto provider; `ring` is the one this crate builds.
/// Installing it twice (another component did first) is harmless.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn a_reload_keeps_the_connection_only_when_nothing_changed() {
        let opts = RedisOptions::default();
        let a = RedisSettings::default();
        let first = RedisConn::connect(&a, &opts).unwrap();
        let same = RedisConn::reuse_or_connect(&a, &opts, Some(&first)).unwrap();
        assert!(same.same_as(&first));
        for changed in [
            RedisSettings {
                url: "redis://127.0.0.1:6380/0".into(),
                ..a.clone()
            },
            RedisSettings {
                prefix: "other".into(),
                ..a.clone()
            },
        ] {
            let next = RedisConn::reuse_or_connect(&changed, &opts, Some(&first)).unwrap();
            assert!(!next.same_as(&first));
            assert_eq!(next.settings(), &changed);
        }
        let bad = RedisSettings {
            url: "redis://:hunter2@/0".into(),
            ..a
        };
        let err = RedisConn::reuse_or_connect(&bad, &opts, Some(&first))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("rate_limit.redis_url") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
