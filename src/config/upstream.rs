//! `[upstream]`: where translated calls go and how the client behaves.

use http::{HeaderName, HeaderValue, Uri};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// `[upstream]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// Gateway stage base (`http://bkapi.example.com/api/bk-job/prod`) or `stub`.
    pub url: String,
    /// Whole upstream exchange (default 30 s, within the default shutdown grace).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// TCP connect.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Idle pooled connections are closed after this: below the gateway's keep-alive
    /// timeout (APISIX and nginx: 60 s or more), so the shim never reuses a connection
    /// the gateway is closing.
    #[serde(with = "humantime_serde")]
    pub pool_idle_timeout: Duration,
    /// Idle pooled connections kept per host, per serving core (`server.worker_threads`).
    pub pool_max_idle_per_host: usize,
    /// Exchanges with the gateway at once, per serving core; a request beyond them waits
    /// for one to end (within `timeout`) before it is sent. Each HTTP/1.1 exchange holds a
    /// connection and its buffers (~40 KB): this bounds the connections opened to a slow
    /// gateway and the shim's memory under many client connections.
    pub max_in_flight: usize,
    /// Fixed headers added to every upstream request (e.g. `X-Bk-Tenant-Id`).
    pub headers: BTreeMap<String, String>,
    /// Egress proxy (`http://[user:password@]host:port`): connections are tunnelled with
    /// CONNECT; `NO_PROXY` hosts connect directly.
    pub proxy: Option<String>,
    /// `auto`: ALPN h2 when an https gateway offers it; `never`: HTTP/1.1 only.
    pub http2: crate::tls::Http2Mode,
    /// `[upstream.tls]`: trust, client certificate and server name for https upstreams.
    pub tls: crate::tls::UpstreamTls,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            url: "stub".into(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(3),
            pool_idle_timeout: Duration::from_secs(30),
            pool_max_idle_per_host: 64,
            max_in_flight: 64,
            headers: BTreeMap::new(),
            proxy: None,
            http2: crate::tls::Http2Mode::Auto,
            tls: crate::tls::UpstreamTls::default(),
        }
    }
}

/// Where translated requests go, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The built-in emulator (`url = "stub"`).
    Stub,
    /// A gateway stage base such as `https://bkapi.example.com/api/bk-job/prod`.
    Http(Uri),
}

/// Headers the shim computes for every upstream request; `upstream.headers` may not set
/// them (credentials, framing and hop-by-hop headers).
const RESERVED_UPSTREAM_HEADERS: [&str; 13] = [
    "x-bkapi-authorization",
    "x-bk-username",
    "x-request-id",
    "content-length",
    "content-type",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
];

impl UpstreamConfig {
    /// The parsed target, or why `url` is not one.
    pub fn target(&self) -> Result<Target, String> {
        let url = self.url.as_str();
        if url == "stub" {
            return if cfg!(feature = "stub") {
                Ok(Target::Stub)
            } else {
                Err(
                    "upstream.url = \"stub\" needs the built-in emulator, which this build \
                     leaves out (cargo feature `stub`): set the gateway's URL"
                        .to_owned(),
                )
            };
        }
        match url.parse::<Uri>() {
            Ok(u) if u.authority().is_some_and(|a| a.as_str().contains('@')) => Err(
                "upstream.url must not carry credentials (user:password@): the shim sends \
                 X-Bkapi-Authorization instead"
                    .to_owned(),
            ),
            Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {
                if u.query().is_some() {
                    Err(format!("upstream.url `{url}` must not have a query string"))
                } else {
                    Ok(Target::Http(u))
                }
            }
            _ => Err(format!(
                "upstream.url `{url}` must be `stub` or an http(s):// URL such as https://bkapi.example.com/api/bk-job/prod"
            )),
        }
    }

    /// `upstream.headers`, parsed; every bad entry is a problem.
    pub fn fixed_headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, Vec<String>> {
        let mut out = Vec::new();
        let mut p = Vec::new();
        for (k, v) in &self.headers {
            let name = match HeaderName::from_bytes(k.as_bytes()) {
                Err(_) => {
                    p.push(format!(
                        "upstream.headers: `{k}` is not a valid header name"
                    ));
                    None
                }
                Ok(name) if RESERVED_UPSTREAM_HEADERS.contains(&name.as_str()) => {
                    p.push(format!(
                        "upstream.headers: `{k}` is set by the shim itself and cannot be configured"
                    ));
                    None
                }
                Ok(name) => Some(name),
            };
            let value = HeaderValue::from_str(v).ok();
            if value.is_none() {
                p.push(format!("upstream.headers.{k}: not a valid header value"));
            }
            if let (Some(n), Some(v)) = (name, value) {
                out.push((n, v));
            }
        }
        if p.is_empty() { Ok(out) } else { Err(p) }
    }

    /// Every rule of `[upstream]`.
    pub fn validate(&self, p: &mut Vec<String>) {
        if let Err(e) = self.target() {
            p.push(e);
        }
        for (what, d) in [
            ("upstream.timeout", self.timeout),
            ("upstream.connect_timeout", self.connect_timeout),
        ] {
            if d.is_zero() {
                p.push(format!("{what} must be > 0"));
            }
        }
        if !(1..=100_000).contains(&self.max_in_flight) {
            p.push("upstream.max_in_flight must be between 1 and 100000".to_owned());
        }
        if let Err(e) = self.fixed_headers() {
            p.extend(e);
        }
        if let Some(proxy) = &self.proxy {
            p.extend(crate::tls::config::proxy_problems(proxy));
        }
        p.extend(self.tls.validate());
    }
}
