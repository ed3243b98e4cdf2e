//! Test helper: real Redis topologies built from `support/redis.rs` — a TLS server with
//! certificates generated at start (rcgen), a 3-node Redis Cluster, and a master + replica
//! watched by three sentinels. Include it next to that file:
//! `#[path = "support/redis.rs"] mod redis_server;` and
//! `#[path = "support/redis_topo.rs"] mod redis_topo;`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::redis_server::{RedisServer, TempDir, free_port, raw};
use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A CA, a server certificate for `127.0.0.1`/`localhost` and a client certificate, as
/// PEM files in a temporary directory.
pub(crate) struct TestPki {
    pub(crate) dir: TempDir,
    pub(crate) ca: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
    pub(crate) client_cert: PathBuf,
    pub(crate) client_key: PathBuf,
    /// A CA that signed nothing here (to test an untrusted server).
    pub(crate) other_ca: PathBuf,
}

/// A CA certificate and its key.
struct Ca(Certificate, KeyPair);

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    Ca(p.self_signed(&key).unwrap(), key)
}

fn leaf(names: &[&str], cn: &str, issuer: &Ca) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    let cert = p.signed_by(&key, &issuer.0, &issuer.1).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl TestPki {
    pub(crate) fn generate() -> Self {
        let dir = TempDir::new("pki");
        let issuer = ca("bk-job-shim test CA");
        let other = ca("some other CA");
        let (server_cert, server_key) = leaf(&["127.0.0.1", "localhost"], "redis", &issuer);
        let (client_cert, client_key) = leaf(&[], "bk-job-shim", &issuer);
        Self {
            ca: dir.write("ca.pem", &issuer.0.pem()),
            server_cert: dir.write("server.pem", &server_cert),
            server_key: dir.write("server.key", &server_key),
            client_cert: dir.write("client.pem", &client_cert),
            client_key: dir.write("client.key", &client_key),
            other_ca: dir.write("other-ca.pem", &other.0.pem()),
            dir,
        }
    }

    /// A `redis-server` taking TLS only; `require_client_cert` sets `tls-auth-clients`.
    pub(crate) fn server(&self, require_client_cert: bool) -> RedisServer {
        let p = |p: &PathBuf| p.display().to_string();
        let extra = vec![
            "--tls-cert-file".into(),
            p(&self.server_cert),
            "--tls-key-file".into(),
            p(&self.server_key),
            "--tls-ca-cert-file".into(),
            p(&self.ca),
            "--tls-auth-clients".into(),
            if require_client_cert { "yes" } else { "no" }.into(),
        ];
        RedisServer::start_tls_on(free_port(), extra)
    }
}

/// Polls `f` every 50 ms until it is true, or panics with `what` after `limit`.
pub(crate) fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Redis Cluster of three masters (no replicas) on free loopback ports.
pub(crate) struct RedisCluster {
    pub(crate) nodes: Vec<RedisServer>,
    _dir: TempDir,
}

impl RedisCluster {
    pub(crate) fn start() -> Self {
        let dir = TempDir::new("cluster");
        let nodes: Vec<RedisServer> = (0..3)
            .map(|i| {
                let extra = vec![
                    "--cluster-enabled".into(),
                    "yes".into(),
                    "--cluster-config-file".into(),
                    dir.path()
                        .join(format!("nodes-{i}.conf"))
                        .display()
                        .to_string(),
                    "--cluster-port".into(),
                    free_port().to_string(),
                    "--cluster-node-timeout".into(),
                    "2000".into(),
                    "--dir".into(),
                    dir.path().display().to_string(),
                ];
                RedisServer::start_with(&extra)
            })
            .collect();
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(String::from));
        let out = Command::new("redis-cli")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "redis-cli is needed for the cluster test (apt-get install -y redis-tools): {e}"
                )
            });
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for n in &nodes {
            wait_until(Duration::from_secs(15), "the cluster is ok", || {
                raw(n.port(), &["CLUSTER", "INFO"]).contains("cluster_state:ok")
            });
        }
        Self { nodes, _dir: dir }
    }

    /// Seed URLs of every node.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port()))
            .collect()
    }

    /// The port of the node serving `key` (following a `-MOVED` answer).
    pub(crate) fn port_for(&self, key: &str) -> u16 {
        let first = self.nodes[0].port();
        let reply = raw(first, &["TYPE", key]);
        match reply.strip_prefix("-MOVED ") {
            Some(rest) => rest
                .split_whitespace()
                .nth(1)
                .and_then(|addr| addr.rsplit(':').next())
                .and_then(|p| p.trim().parse().ok())
                .expect("a MOVED address"),
            None => first,
        }
    }

    /// Requests left in a rate-limit window key (its `left` field), wherever it lives.
    pub(crate) fn left(&self, key: &str) -> Option<i64> {
        let reply = raw(self.port_for(key), &["HGET", key, "left"]);
        let mut lines = reply.split("\r\n");
        match lines.next() {
            Some(h) if h.starts_with('$') && h != "$-1" => {
                lines.next().and_then(|v| v.parse().ok())
            }
            _ => None,
        }
    }
}

/// A master, one replica and three sentinels watching them as `mymaster`.
pub(crate) struct SentinelSet {
    pub(crate) master: RedisServer,
    pub(crate) replica: RedisServer,
    pub(crate) sentinels: Vec<RedisServer>,
    _dir: TempDir,
}

pub(crate) const MASTER_NAME: &str = "mymaster";

impl SentinelSet {
    pub(crate) fn start() -> Self {
        let dir = TempDir::new("sentinel");
        let master = RedisServer::start();
        let replica = RedisServer::start_with(&[
            "--replicaof".into(),
            "127.0.0.1".into(),
            master.port().to_string(),
        ]);
        wait_until(Duration::from_secs(15), "the replica is in sync", || {
            raw(replica.port(), &["INFO", "replication"]).contains("master_link_status:up")
        });
        let sentinels: Vec<RedisServer> = (0..3)
            .map(|i| {
                let port = free_port();
                let conf = dir.write(
                    &format!("sentinel-{i}.conf"),
                    &format!(
                        "sentinel monitor {MASTER_NAME} 127.0.0.1 {} 2\n\
                         sentinel down-after-milliseconds {MASTER_NAME} 500\n\
                         sentinel failover-timeout {MASTER_NAME} 5000\n\
                         sentinel parallel-syncs {MASTER_NAME} 1\n",
                        master.port()
                    ),
                );
                RedisServer::start_program_on(
                    "redis-sentinel",
                    port,
                    vec![conf.display().to_string()],
                )
            })
            .collect();
        // Each sentinel must know the replica and the two other sentinels before a
        // failover can be agreed.
        for s in &sentinels {
            wait_until(
                Duration::from_secs(20),
                "the sentinels know each other",
                || {
                    let m = raw(s.port(), &["SENTINEL", "MASTER", MASTER_NAME]);
                    field_after(&m, "num-other-sentinels") == Some(2)
                        && field_after(&m, "num-slaves") == Some(1)
                },
            );
        }
        Self {
            master,
            replica,
            sentinels,
            _dir: dir,
        }
    }

    /// Sentinel URLs.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}", s.port()))
            .collect()
    }

    /// The port the sentinels currently name as master.
    pub(crate) fn master_port(&self) -> u16 {
        let r = raw(
            self.sentinels[0].port(),
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME],
        );
        r.split("\r\n")
            .nth(4)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }
}

/// In a flat RESP array of `name, value, …` bulk strings, the integer after `name`.
fn field_after(reply: &str, name: &str) -> Option<i64> {
    let lines: Vec<&str> = reply.split("\r\n").collect();
    let i = lines.iter().position(|l| *l == name)?;
    lines.get(i + 2)?.parse().ok()
}
