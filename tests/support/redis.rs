//! Test and bench helper: throwaway `redis-server` processes on free loopback ports,
//! killed on drop. Include it with `#[path = "support/redis.rs"] mod redis_server;` (from
//! a test) or `#[path = "../tests/support/redis.rs"] mod redis_server;` (from a bench).
//! Topologies built from it (TLS, Sentinel, Cluster) are in `support/redis_topo.rs`.
//!
//! Tests call [`RedisServer::start`], which panics with a clear message when
//! `redis-server` is not installed (CI installs it: `apt-get install -y redis-server`);
//! benches call [`RedisServer::try_start`] and skip on `Err`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A `redis-server` (or `redis-sentinel`) child process (no persistence) on
/// `127.0.0.1:<port>`.
pub(crate) struct RedisServer {
    port: u16,
    program: &'static str,
    /// Arguments after the port ones (TLS, ACL, cluster, a config file …).
    extra: Vec<String>,
    /// The port takes TLS only: readiness is a TCP connect, not a PING.
    tls_only: bool,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port, or panics explaining why it could not.
    pub(crate) fn start() -> Self {
        Self::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a server on a free port.
    pub(crate) fn try_start() -> Result<Self, String> {
        Self::try_start_with(&[])
    }

    /// Starts a server on a free port with `extra` arguments (e.g. `["--user", …]`).
    pub(crate) fn start_with(extra: &[String]) -> Self {
        Self::try_start_with(extra).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_start_with(extra: &[String]) -> Result<Self, String> {
        let mut last = String::new();
        // The port is free when probed but could be taken before redis binds it: retry.
        for _ in 0..3 {
            let mut s = Self::unstarted(free_port(), "redis-server", extra.to_vec());
            match s.spawn() {
                Ok(()) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// A server that will listen with TLS only on `port` (`extra` holds the TLS options).
    pub(crate) fn start_tls_on(port: u16, extra: Vec<String>) -> Self {
        let mut s = Self::unstarted(port, "redis-server", extra);
        s.tls_only = true;
        s.spawn().unwrap_or_else(|e| panic!("{e}"));
        s
    }

    /// `program` (`redis-server` or `redis-sentinel`) on `port` with `extra` arguments.
    pub(crate) fn start_program_on(program: &'static str, port: u16, extra: Vec<String>) -> Self {
        let mut s = Self::unstarted(port, program, extra);
        s.spawn().unwrap_or_else(|e| panic!("{e}"));
        s
    }

    /// Starts a server on `port` (e.g. one a client already points at).
    pub(crate) fn start_on(port: u16) -> Self {
        Self::try_start_on(port).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a server on `port` with `extra` arguments.
    pub(crate) fn start_on_with(port: u16, extra: &[String]) -> Self {
        let mut s = Self::unstarted(port, "redis-server", extra.to_vec());
        s.spawn().unwrap_or_else(|e| panic!("{e}"));
        s
    }

    /// Starts a server on `port`.
    pub(crate) fn try_start_on(port: u16) -> Result<Self, String> {
        let mut s = Self::unstarted(port, "redis-server", Vec::new());
        s.spawn()?;
        Ok(s)
    }

    fn unstarted(port: u16, program: &'static str, extra: Vec<String>) -> Self {
        Self {
            port,
            program,
            extra,
            tls_only: false,
            child: None,
        }
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The process id (to stop it with a signal).
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (e.g. `"STOP"`, `"CONT"`) to the server.
    pub(crate) fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{signal} failed");
    }

    /// Starts the server again on the same port (after [`RedisServer::kill`]); the data
    /// is gone (no persistence).
    pub(crate) fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("{e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Sends one command and returns its raw RESP reply (e.g. `"$1\r\n3\r\n"`, `":-2\r\n"`).
    pub(crate) fn raw(&self, args: &[&str]) -> String {
        raw(self.port, args)
    }

    /// `GET key` parsed as an integer (`None` if absent).
    pub(crate) fn get_int(&self, key: &str) -> Option<i64> {
        bulk_int(&self.raw(&["GET", key]))
    }

    /// `HGET key field` parsed as an integer (`None` if absent).
    pub(crate) fn hget_int(&self, key: &str, field: &str) -> Option<i64> {
        bulk_int(&self.raw(&["HGET", key, field]))
    }

    /// Requests left in a rate-limit window key (its `left` field).
    pub(crate) fn left(&self, key: &str) -> Option<i64> {
        self.hget_int(key, "left")
    }

    fn spawn(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let mut args: Vec<String> = if self.tls_only {
            vec!["--port".into(), "0".into(), "--tls-port".into(), port]
        } else {
            vec!["--port".into(), port]
        };
        args.extend(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"].map(String::from));
        // Anything it might still write (a `SHUTDOWN SAVE`) goes to the temp directory,
        // not the working directory (the checkout).
        args.extend(["--dir".into(), std::env::temp_dir().display().to_string()]);
        // A config file (sentinel) must come first.
        let mut all = self.extra.clone();
        let file_first = all.first().is_some_and(|a| !a.starts_with("--"));
        if file_first {
            let file = all.remove(0);
            args.insert(0, file);
        }
        args.extend(all);
        let mut child = Command::new(self.program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                if e.kind() == ErrorKind::NotFound {
                    format!(
                        "{} is not installed or not on PATH: the Redis tests need a real \
                         server (install it with `apt-get install -y redis-server \
                         redis-sentinel redis-tools`)",
                        self.program
                    )
                } else {
                    format!("could not run {}: {e}", self.program)
                }
            })?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let up = if self.tls_only {
                TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                ping(self.port)
            };
            if up {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "{} on port {} exited at start ({status}); is the port taken?",
                    self.program, self.port
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} on port {} did not answer within 10 s",
                    self.program, self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends one command to `127.0.0.1:port` and returns its raw RESP reply.
pub(crate) fn raw(port: u16, args: &[&str]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to redis");
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn bulk_int(reply: &str) -> Option<i64> {
    let mut lines = reply.split("\r\n");
    match lines.next() {
        Some("$-1") => None,
        Some(h) if h.starts_with('$') => lines.next().and_then(|v| v.parse().ok()),
        other => panic!("unexpected reply {other:?}"),
    }
}

/// A loopback port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Any reply to a PING (`+PONG`, or an error such as `-NOAUTH` from a server that
/// wants a password) means the server is up.
fn ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(n) if n > 0 && (buf[0] == b'+' || buf[0] == b'-'))
}

/// A directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p =
            std::env::temp_dir().join(format!("bk-job-shim-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `name` in the directory and returns its path.
    pub(crate) fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
