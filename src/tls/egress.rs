//! The TCP connector under TLS: direct, or through an HTTP CONNECT egress proxy.
//!
//! `upstream.proxy = "http://[user:password@]proxy.corp:3128"` tunnels every upstream
//! connection (https and http upstreams alike) with `CONNECT host:port`, using hyper-util's
//! `Tunnel` connector; hosts matched by `NO_PROXY` (hyper-util's matcher, curl's rules:
//! domains and their subdomains, IPs, CIDRs, `*`) connect directly. Credentials go only
//! into the `Proxy-Authorization` header of the CONNECT request (marked sensitive); errors
//! and logs show the proxy as `http://***@proxy.corp:3128`.

use super::config::redact_proxy;
use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tower::Service;

/// A boxed error (the connectors' own error types are not exported by hyper-util).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the TCP (or tunnel) connection failed.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// Direct TCP connect failed.
    #[error("{0}")]
    Connect(#[source] BoxError),
    /// The egress proxy could not be reached or refused the tunnel.
    #[error("egress proxy {proxy}: {source}")]
    Proxy {
        /// The proxy URL without credentials.
        proxy: String,
        /// What went wrong (hyper-util's tunnel error).
        #[source]
        source: BoxError,
    },
}

struct Route {
    matcher: Matcher,
    shown: String,
}

/// A `Service<Uri>` connector: direct TCP, or a CONNECT tunnel through the egress proxy.
#[derive(Clone)]
pub struct EgressConnector {
    http: HttpConnector,
    proxy: Option<Arc<Route>>,
}

impl std::fmt::Debug for EgressConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressConnector")
            .field("proxy", &self.proxy.as_ref().map(|p| p.shown.as_str()))
            .finish()
    }
}

/// The `NO_PROXY` (else `no_proxy`) environment variable, empty when unset.
pub fn no_proxy_from_env() -> String {
    std::env::var("NO_PROXY")
        .or_else(|_| std::env::var("no_proxy"))
        .unwrap_or_default()
}

impl EgressConnector {
    /// `proxy` is `upstream.proxy` (validated by [`super::config::proxy_problems`]);
    /// `no_proxy` a `NO_PROXY`-style list of hosts reached directly.
    pub fn new(connect_timeout: Duration, proxy: Option<&str>, no_proxy: &str) -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        // https destinations reach this connector too (TLS is layered on top).
        http.enforce_http(false);
        let proxy = proxy.map(|url| {
            Arc::new(Route {
                matcher: Matcher::builder()
                    .http(url.to_owned())
                    .https(url.to_owned())
                    .no(no_proxy.to_owned())
                    .build(),
                shown: redact_proxy(url),
            })
        });
        EgressConnector { http, proxy }
    }

    /// Whether connections to `dst` go through the egress proxy.
    pub fn is_proxied(&self, dst: &Uri) -> bool {
        self.proxy
            .as_ref()
            .is_some_and(|p| p.matcher.intercept(dst).is_some())
    }
}

/// `dst` with its port made explicit (the tunnel otherwise assumes 443, also for http).
fn with_port(dst: Uri) -> Uri {
    if dst.port().is_some() {
        return dst;
    }
    let port = if dst.scheme_str() == Some("http") {
        80
    } else {
        443
    };
    let (Some(scheme), Some(host)) = (dst.scheme_str(), dst.host()) else {
        return dst;
    };
    format!("{scheme}://{host}:{port}/").parse().unwrap_or(dst)
}

type Connecting = Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, EgressError>> + Send>>;

impl Service<Uri> for EgressConnector {
    type Response = TokioIo<TcpStream>;
    type Error = EgressError;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // HttpConnector is always ready; the tunnel is made per call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let route = self
            .proxy
            .as_ref()
            .and_then(|p| p.matcher.intercept(&dst).map(|i| (p.shown.clone(), i)));
        match route {
            None => {
                let connecting = self.http.call(dst);
                Box::pin(
                    async move { connecting.await.map_err(|e| EgressError::Connect(e.into())) },
                )
            }
            Some((shown, intercept)) => {
                let mut tunnel = Tunnel::new(intercept.uri().clone(), self.http.clone());
                if let Some(auth) = intercept.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let tunneling = tunnel.call(with_port(dst));
                Box::pin(async move {
                    tunneling.await.map_err(|e| EgressError::Proxy {
                        proxy: shown,
                        source: e.into(),
                    })
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_hosts_connect_directly() {
        let c = EgressConnector::new(
            Duration::from_secs(1),
            Some("http://u:p@proxy.corp:3128"),
            "internal.corp, 10.0.0.0/8",
        );
        let dst = |s: &str| s.parse::<Uri>().unwrap_or_default();
        assert!(c.is_proxied(&dst("https://bkapi.example.com/x")));
        assert!(c.is_proxied(&dst("http://bkapi.example.com/x")));
        assert!(!c.is_proxied(&dst("https://gw.internal.corp/x")));
        assert!(!c.is_proxied(&dst("https://10.1.2.3/x")));
        assert!(!format!("{c:?}").contains("u:p"));
        let direct = EgressConnector::new(Duration::from_secs(1), None, "");
        assert!(!direct.is_proxied(&dst("https://bkapi.example.com/x")));
    }

    #[test]
    fn tunnel_ports_are_explicit() {
        let p = |s: &str| with_port(s.parse().unwrap_or_default()).to_string();
        assert_eq!(p("http://gw.example.com/api"), "http://gw.example.com:80/");
        assert_eq!(
            p("https://gw.example.com/api"),
            "https://gw.example.com:443/"
        );
        assert_eq!(
            p("https://gw.example.com:8443/api"),
            "https://gw.example.com:8443/api"
        );
    }
}
