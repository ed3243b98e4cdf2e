//! Test and bench helper: a throwaway `redis-server` on a free loopback port, killed on
//! drop. Include it with `#[path = "support/redis.rs"] mod redis_server;` (from a test)
//! or `#[path = "../tests/support/redis.rs"] mod redis_server;` (from a bench).
//!
//! Tests call [`RedisServer::start`], which panics with a clear message when
//! `redis-server` is not installed (CI installs it: `apt-get install -y redis-server`);
//! benches call [`RedisServer::try_start`] and skip on `Err`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process (no persistence) on `127.0.0.1:<port>`.
pub(crate) struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port, or panics explaining why it could not.
    pub(crate) fn start() -> Self {
        Self::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a server on a free port.
    pub(crate) fn try_start() -> Result<Self, String> {
        let mut last = String::new();
        // The port is free when probed but could be taken before redis binds it: retry.
        for _ in 0..3 {
            match Self::try_start_on(free_port()) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Starts a server on `port` (e.g. one a client already points at).
    pub(crate) fn start_on(port: u16) -> Self {
        Self::try_start_on(port).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a server on `port`.
    pub(crate) fn try_start_on(port: u16) -> Result<Self, String> {
        let mut s = Self { port, child: None };
        s.spawn()?;
        Ok(s)
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
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
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// `GET key` parsed as an integer (`None` if absent).
    pub(crate) fn get_int(&self, key: &str) -> Option<i64> {
        let reply = self.raw(&["GET", key]);
        let mut lines = reply.split("\r\n");
        match lines.next() {
            Some("$-1") => None,
            Some(h) if h.starts_with('$') => lines.next().and_then(|v| v.parse().ok()),
            other => panic!("unexpected GET reply {other:?}"),
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                if e.kind() == ErrorKind::NotFound {
                    "redis-server is not installed or not on PATH: the Redis rate-limit tests \
                     need a real server (install it with `apt-get install -y redis-server`)"
                        .to_owned()
                } else {
                    format!("could not run redis-server: {e}")
                }
            })?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server on port {} exited at start ({status}); is the port taken?",
                    self.port
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "redis-server on port {} did not answer PING within 10 s",
                    self.port
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

/// A loopback port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

fn ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}
