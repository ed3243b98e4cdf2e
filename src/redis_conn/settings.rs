//! The Redis keys of `[rate_limit]` (`redis_url`, `redis_tls`, `redis_sentinels`,
//! `redis_master_name`, `redis_cluster_nodes`, `redis_prefix`), their rules, and the TLS
//! material they name.
//!
//! Nothing here ever echoes a URL that may carry a password: problems name the key, and
//! [`redact`] strips the user info for logs.

use ::redis::{ClientTlsConfig, ConnectionAddr, IntoConnectionInfo, TlsCertificates};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Default of `rate_limit.redis_prefix`.
pub const DEFAULT_PREFIX: &str = "bk-job-shim";

/// Longest accepted `rate_limit.redis_prefix`.
const MAX_PREFIX_LEN: usize = 64;

/// `[rate_limit.redis_tls]`: the trust and identity of `rediss://` connections (the same
/// meaning as `[upstream.tls]`). Without `ca_file` the system trust store is used;
/// certificate and host name verification are always on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisTlsConfig {
    /// PEM bundle of the CAs that sign the Redis servers' certificates.
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain presented to Redis (`tls-auth-clients yes`).
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of `client_cert_file`.
    pub client_key_file: Option<PathBuf>,
}

impl RedisTlsConfig {
    fn is_empty(&self) -> bool {
        self.ca_file.is_none() && self.client_cert_file.is_none() && self.client_key_file.is_none()
    }
}

/// Which Redis deployment the shim talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// One server (`redis_url`).
    Standalone,
    /// A master found through Sentinel (`redis_sentinels`, `redis_master_name`).
    Sentinel,
    /// Redis Cluster (`redis_cluster_nodes`).
    Cluster,
}

impl Topology {
    /// `"standalone"`, `"sentinel"` or `"cluster"`.
    pub fn name(self) -> &'static str {
        match self {
            Topology::Standalone => "standalone",
            Topology::Sentinel => "sentinel",
            Topology::Cluster => "cluster",
        }
    }
}

/// What the shared Redis connection is built from. `Debug` never shows a password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `rate_limit.redis_url`: the server (standalone); with Sentinel, the scheme,
    /// user, password and database used for the master (its host is not used).
    pub url: String,
    /// `[rate_limit.redis_tls]`.
    pub tls: RedisTlsConfig,
    /// `rate_limit.redis_sentinels`: Sentinel URLs (`redis://[user:pw@]host:26379`).
    pub sentinels: Vec<String>,
    /// `rate_limit.redis_master_name`: the Sentinel service name.
    pub master_name: String,
    /// `rate_limit.redis_cluster_nodes`: seed nodes of a Redis Cluster.
    pub cluster_nodes: Vec<String>,
    /// `rate_limit.redis_prefix`: first part of every key the shim writes.
    pub prefix: String,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379/0".to_owned(),
            tls: RedisTlsConfig::default(),
            sentinels: Vec::new(),
            master_name: String::new(),
            cluster_nodes: Vec::new(),
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact(&self.url))
            .field("tls", &self.tls)
            .field(
                "sentinels",
                &self.sentinels.iter().map(|u| redact(u)).collect::<Vec<_>>(),
            )
            .field("master_name", &self.master_name)
            .field(
                "cluster_nodes",
                &self
                    .cluster_nodes
                    .iter()
                    .map(|u| redact(u))
                    .collect::<Vec<_>>(),
            )
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// `[rate_limit]` as `Debug` shows it: Redis URLs without their passwords.
impl fmt::Debug for crate::ratelimit::RateLimitConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitConfig")
            .field("backend", &self.backend)
            .field("redis", &self.redis_settings())
            .field("fail_open", &self.fail_open)
            .field("bucket_key", &self.bucket_key)
            .field("rates", &self.rates)
            .finish()
    }
}

/// Why the Redis settings cannot be used. The messages name the key, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl RedisSettings {
    /// The deployment these settings describe.
    pub fn topology(&self) -> Topology {
        if !self.cluster_nodes.is_empty() {
            Topology::Cluster
        } else if !self.sentinels.is_empty() {
            Topology::Sentinel
        } else {
            Topology::Standalone
        }
    }

    /// Every problem of these settings, for `check-config` (TLS files are read and
    /// parsed). Empty when [`RedisConn::connect`](super::RedisConn::connect) would
    /// accept them.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let standalone_or_sentinel = self.cluster_nodes.is_empty();
        if standalone_or_sentinel {
            if let Err(e) = check_url("rate_limit.redis_url", &self.url, true) {
                p.push(e);
            }
        }
        for (i, u) in self.sentinels.iter().enumerate() {
            if let Err(e) = check_url(&format!("rate_limit.redis_sentinels[{i}]"), u, false) {
                p.push(e);
            }
        }
        for (i, u) in self.cluster_nodes.iter().enumerate() {
            if let Err(e) = check_url(&format!("rate_limit.redis_cluster_nodes[{i}]"), u, false) {
                p.push(e);
            }
        }
        p.extend(self.topology_problems());
        if let Err(e) = check_prefix(&self.prefix) {
            p.push(e);
        }
        if let Err(e) = self.certificates() {
            p.push(e.0);
        }
        p
    }

    fn topology_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !self.sentinels.is_empty() && !self.cluster_nodes.is_empty() {
            p.push(
                "rate_limit: redis_sentinels and redis_cluster_nodes are exclusive \
                 (Sentinel or Cluster, not both)"
                    .to_owned(),
            );
        }
        if !self.sentinels.is_empty() && self.master_name.trim().is_empty() {
            p.push("rate_limit.redis_master_name is required with redis_sentinels".to_owned());
        }
        if self.sentinels.is_empty() && !self.master_name.is_empty() {
            p.push("rate_limit.redis_master_name needs rate_limit.redis_sentinels".to_owned());
        }
        if !self.tls.is_empty() && !self.uses_tls() {
            p.push("rate_limit.redis_tls is set but no Redis URL uses rediss:// (TLS)".to_owned());
        }
        p
    }

    /// Whether any URL asks for TLS.
    fn uses_tls(&self) -> bool {
        let tls = |u: &String| u.starts_with("rediss://");
        match self.topology() {
            Topology::Standalone => tls(&self.url),
            Topology::Sentinel => tls(&self.url) || self.sentinels.iter().any(tls),
            Topology::Cluster => self.cluster_nodes.iter().any(tls),
        }
    }

    /// The CA bundle and client identity of `[rate_limit.redis_tls]`, read and checked;
    /// `None` when no file is set (system trust store, no client certificate).
    pub fn certificates(&self) -> Result<Option<TlsCertificates>, SettingsError> {
        let t = &self.tls;
        let root_cert = match &t.ca_file {
            Some(path) => Some(read_pem(path, "rate_limit.redis_tls.ca_file", Pem::Certs)?),
            None => None,
        };
        let client_tls = match (&t.client_cert_file, &t.client_key_file) {
            (Some(cert), Some(key)) => Some(ClientTlsConfig {
                client_cert: read_pem(cert, "rate_limit.redis_tls.client_cert_file", Pem::Certs)?,
                client_key: read_pem(key, "rate_limit.redis_tls.client_key_file", Pem::Key)?,
            }),
            (None, None) => None,
            _ => {
                return Err(SettingsError(
                    "rate_limit.redis_tls: client_cert_file and client_key_file go together"
                        .to_owned(),
                ));
            }
        };
        Ok(
            (root_cert.is_some() || client_tls.is_some()).then_some(TlsCertificates {
                client_tls,
                root_cert,
            }),
        )
    }
}

/// Checks one Redis URL without echoing it (it may carry a password).
fn check_url(key: &str, url: &str, unix_ok: bool) -> Result<(), String> {
    let hint = "expected redis://[user:password@]host:port[/db] or rediss://…";
    if !(url.starts_with("redis://")
        || url.starts_with("rediss://")
        || (unix_ok && (url.starts_with("redis+unix://") || url.starts_with("unix://"))))
    {
        return Err(format!("{key}: unsupported scheme ({hint})"));
    }
    let info = url
        .into_connection_info()
        .map_err(|e| format!("{key}: not a valid Redis URL ({hint}; {:?})", e.kind()))?;
    if let ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } = info.addr() {
        if host.is_empty() {
            return Err(format!("{key}: the URL has no host ({hint})"));
        }
    }
    Ok(())
}

/// `redis_prefix`: non-empty, at most 64 printable characters, no braces (a brace would
/// change the Redis Cluster hash tag of every key) and no spaces.
fn check_prefix(prefix: &str) -> Result<(), String> {
    let ok = !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_LEN
        && prefix
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '{' && c != '}');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "rate_limit.redis_prefix must be 1–{MAX_PREFIX_LEN} printable ASCII characters \
             without spaces or braces"
        ))
    }
}

#[derive(Clone, Copy)]
enum Pem {
    Certs,
    Key,
}

/// Reads `path` and checks it holds what `kind` says; returns the file's bytes.
fn read_pem(path: &Path, key: &str, kind: Pem) -> Result<Vec<u8>, SettingsError> {
    let bytes = std::fs::read(path)
        .map_err(|e| SettingsError(format!("{key}: cannot read {}: {e}", path.display())))?;
    let ok = match kind {
        Pem::Certs => {
            let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&bytes).collect();
            matches!(certs, Ok(c) if !c.is_empty())
        }
        Pem::Key => PrivateKeyDer::from_pem_slice(&bytes).is_ok(),
    };
    if ok {
        Ok(bytes)
    } else {
        let what = match kind {
            Pem::Certs => "no PEM certificate",
            Pem::Key => "no PEM private key",
        };
        Err(SettingsError(format!(
            "{key}: {} holds {what}",
            path.display()
        )))
    }
}

/// `url` without its user info (user name and password), for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn settings() -> RedisSettings {
        RedisSettings::default()
    }

    #[test]
    fn defaults_are_valid_and_standalone() {
        assert!(
            settings().problems().is_empty(),
            "{:?}",
            settings().problems()
        );
        assert_eq!(settings().topology(), Topology::Standalone);
    }

    #[test]
    fn redacts_user_info() {
        assert_eq!(redact("redis://:pw@h:6379/0"), "redis://***@h:6379/0");
        assert_eq!(redact("rediss://u:p@w@h:1/0"), "rediss://***@h:1/0");
        assert_eq!(redact("redis://h:6379/0"), "redis://h:6379/0");
        let s = RedisSettings {
            url: "redis://alice:hunter2@h:1/0".into(),
            sentinels: vec!["redis://:s3cret@s:26379".into()],
            ..settings()
        };
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn problems_never_echo_a_password() {
        let s = RedisSettings {
            url: "http://alice:hunter2@h:1/0".into(),
            sentinels: vec!["redis://:s3cret@:x".into()],
            ..settings()
        };
        let p = s.problems();
        assert!(p.len() >= 3, "{p:?}");
        let all = p.join("\n");
        assert!(!all.contains("hunter2") && !all.contains("s3cret"), "{all}");
        assert!(
            all.contains("rate_limit.redis_url: unsupported scheme"),
            "{all}"
        );
        assert!(
            all.contains("rate_limit.redis_master_name is required"),
            "{all}"
        );
    }

    #[test]
    fn topology_rules() {
        let both = RedisSettings {
            sentinels: vec!["redis://127.0.0.1:26379".into()],
            master_name: "m".into(),
            cluster_nodes: vec!["redis://127.0.0.1:7000".into()],
            ..settings()
        };
        assert!(both.problems().iter().any(|p| p.contains("exclusive")));
        assert_eq!(both.topology(), Topology::Cluster);
        let orphan = RedisSettings {
            master_name: "m".into(),
            ..settings()
        };
        assert!(orphan.problems()[0].contains("needs rate_limit.redis_sentinels"));
        let sentinel = RedisSettings {
            sentinels: vec!["redis://127.0.0.1:26379".into()],
            master_name: "m".into(),
            ..settings()
        };
        assert!(sentinel.problems().is_empty());
        assert_eq!(sentinel.topology(), Topology::Sentinel);
        let cluster = RedisSettings {
            url: "not used".into(),
            cluster_nodes: vec!["redis+unix:///tmp/x".into()],
            ..settings()
        };
        assert_eq!(cluster.problems().len(), 1, "{:?}", cluster.problems());
    }

    #[test]
    fn prefix_rules() {
        for bad in ["", "a{b", "a}", "has space", &"x".repeat(65)] {
            let s = RedisSettings {
                prefix: bad.to_owned(),
                ..settings()
            };
            assert_eq!(s.problems().len(), 1, "{bad:?}");
        }
        assert!(check_prefix("test-shim:eu").is_ok());
    }

    #[test]
    fn tls_files_are_read_and_checked() {
        let s = RedisSettings {
            tls: RedisTlsConfig {
                ca_file: Some("/nonexistent/ca.pem".into()),
                ..RedisTlsConfig::default()
            },
            ..settings()
        };
        let p = s.problems().join("\n");
        assert!(
            p.contains("rate_limit.redis_tls.ca_file: cannot read"),
            "{p}"
        );
        assert!(p.contains("no Redis URL uses rediss://"), "{p}");

        let dir = std::env::temp_dir().join(format!("redis-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not pem").unwrap();
        let s = RedisSettings {
            url: "rediss://127.0.0.1:6380/0".into(),
            tls: RedisTlsConfig {
                ca_file: Some(junk.clone()),
                client_cert_file: Some(junk.clone()),
                client_key_file: None,
            },
            ..settings()
        };
        let p = s.problems().join("\n");
        assert!(
            p.contains("ca_file") && p.contains("no PEM certificate"),
            "{p}"
        );
        let s = RedisSettings {
            tls: RedisTlsConfig {
                ca_file: None,
                client_cert_file: Some(junk.clone()),
                client_key_file: None,
            },
            ..s
        };
        assert!(
            s.problems()[0].contains("go together"),
            "{:?}",
            s.problems()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
