//! The master of a Sentinel-monitored Redis, found through the sentinels and found again
//! after a failover.
//!
//! The link keeps one multiplexed connection to the current master. When a call on it
//! fails (the master died, or it came back demoted and answers `READONLY`), the owner
//! calls [`SentinelLink::invalidate`]; the next call asks the sentinels for the master
//! again (one lookup at a time) and connects to it.

use super::settings::{RedisSettings, SettingsError};
use ::redis::aio::MultiplexedConnection;
use ::redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use ::redis::{AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo, RedisResult, TlsMode};
use arc_swap::ArcSwapOption;
use std::sync::Arc;
use std::time::Duration;

/// The current master connection, re-resolved on demand.
pub(super) struct SentinelLink {
    client: tokio::sync::Mutex<SentinelClient>,
    current: ArcSwapOption<MultiplexedConnection>,
    config: AsyncConnectionConfig,
}

impl SentinelLink {
    /// A link to `settings.master_name` through `settings.sentinels`; connects lazily.
    pub(super) fn new(
        settings: &RedisSettings,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<Self, SettingsError> {
        let bad = |key: &str| SettingsError(format!("{key}: not a valid Redis URL"));
        let sentinels = settings
            .sentinels
            .iter()
            .map(|u| u.as_str().into_connection_info())
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|_| bad("rate_limit.redis_sentinels"))?;
        let master = settings
            .url
            .as_str()
            .into_connection_info()
            .map_err(|_| bad("rate_limit.redis_url"))?;
        let certs = settings.certificates()?;
        let mut b = SentinelClientBuilder::new(
            sentinels.iter().map(|s| s.addr().clone()),
            &settings.master_name,
            SentinelServerType::Master,
        )
        .map_err(|_| bad("rate_limit.redis_sentinels"))?;

        // The master: user, password, database and TLS of `redis_url`.
        let r = master.redis_settings();
        b = b.set_client_to_redis_db(r.db());
        if let Some(user) = r.username() {
            b = b.set_client_to_redis_username(user);
        }
        if let Some(pw) = r.password() {
            b = b.set_client_to_redis_password(pw);
        }
        if is_tls(master.addr()) {
            b = b.set_client_to_redis_tls_mode(TlsMode::Secure);
        }
        // The sentinels: user, password and TLS of the first sentinel URL.
        if let Some(first) = sentinels.first() {
            let s = first.redis_settings();
            if let Some(user) = s.username() {
                b = b.set_client_to_sentinel_username(user);
            }
            if let Some(pw) = s.password() {
                b = b.set_client_to_sentinel_password(pw);
            }
            if is_tls(first.addr()) {
                b = b.set_client_to_sentinel_tls_mode(TlsMode::Secure);
            }
        }
        if let Some(certs) = certs {
            b = b
                .set_client_to_redis_certificates(certs.clone())
                .set_client_to_sentinel_certificates(certs);
        }
        let client = b.build().map_err(|_| bad("rate_limit.redis_sentinels"))?;
        Ok(Self {
            client: tokio::sync::Mutex::new(client),
            current: ArcSwapOption::empty(),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(connect_timeout))
                .set_response_timeout(Some(response_timeout)),
        })
    }

    /// A connection to the current master (asking the sentinels first if needed).
    pub(super) async fn get(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(c) = self.current.load_full() {
            return Ok((*c).clone());
        }
        let mut client = self.client.lock().await;
        if let Some(c) = self.current.load_full() {
            return Ok((*c).clone());
        }
        let master = client.async_get_client().await?;
        let conn = master
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        tracing::info!(
            master = %master.get_connection_info().addr(),
            "redis: connected to the master named by the sentinels"
        );
        self.current.store(Some(Arc::new(conn.clone())));
        Ok(conn)
    }

    /// Forget the current master: the next call asks the sentinels again.
    pub(super) fn invalidate(&self) {
        self.current.store(None);
    }
}

fn is_tls(addr: &ConnectionAddr) -> bool {
    matches!(addr, ConnectionAddr::TcpTls { .. })
}
