//! Settings: `[upstream.tls]`, `upstream.http2`, `upstream.proxy` and `[server.tls]`.
//!
//! Each `validate()` reads and checks the files it names (used by `check-config` and by a
//! reload before anything is swapped). Messages name settings and paths, never key
//! material or proxy credentials.

use super::certs;
use http::Uri;
use rustls::pki_types::{ServerName, UnixTime};
use serde::Deserialize;
use std::path::PathBuf;

/// `[upstream.tls]`: how the gateway's certificate is trusted and how the shim presents
/// itself. Applies to `https://` upstream URLs; certificate and host name verification are
/// always on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamTls {
    /// PEM bundle of the CAs to trust instead of the system trust store (private CA).
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain presented to a gateway that demands mTLS.
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of `client_cert_file`.
    pub client_key_file: Option<PathBuf>,
    /// Name sent as SNI and verified in the certificate instead of the URL's host.
    pub server_name: Option<String>,
}

impl UpstreamTls {
    /// Every problem: unreadable or invalid files, a key that does not match its
    /// certificate, an expired certificate, an invalid server name.
    pub fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(ca) = &self.ca_file {
            match certs::read_certs(ca, "upstream.tls.ca_file") {
                Err(e) => p.push(e),
                Ok(list) => {
                    if let Err(e) = certs::root_store(Some(ca)) {
                        p.push(e);
                    } else if list
                        .iter()
                        .all(|c| certs::validity_problem(c, UnixTime::now()).is_some())
                    {
                        p.push(format!(
                            "upstream.tls.ca_file {}: every certificate in it is expired or not yet valid",
                            ca.display()
                        ));
                    }
                }
            }
        }
        match (&self.client_cert_file, &self.client_key_file) {
            (Some(c), Some(k)) => {
                p.extend(certs::check_pair(c, k, "upstream.tls.client_cert_file"))
            }
            (None, None) => {}
            _ => p.push(
                "upstream.tls.client_cert_file and client_key_file must be set together".to_owned(),
            ),
        }
        if let Some(name) = &self.server_name
            && ServerName::try_from(name.as_str()).is_err()
        {
            p.push(format!(
                "upstream.tls.server_name `{name}` is not a valid DNS name or IP address"
            ));
        }
        p
    }
}

impl UpstreamTls {
    /// A digest of the named files' contents: a reload compares it to tell that a CA
    /// bundle or client certificate changed on disk under the same path (then the client
    /// is rebuilt). Unreadable files count as empty (validation reports them).
    pub fn files_digest(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for path in [&self.ca_file, &self.client_cert_file, &self.client_key_file]
            .into_iter()
            .flatten()
        {
            path.hash(&mut h);
            std::fs::read(path).unwrap_or_default().hash(&mut h);
        }
        h.finish()
    }
}

/// `upstream.http2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Http2Mode {
    /// Offer h2 and http/1.1 by ALPN on https upstreams; h2 gives one multiplexed
    /// connection, else HTTP/1.1 keep-alive. Plain http upstreams use HTTP/1.1.
    #[default]
    Auto,
    /// HTTP/1.1 keep-alive only.
    Never,
}

/// `[server.tls]`: serve the legacy API listener over TLS (both set) or plain HTTP (neither).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerTls {
    /// PEM certificate chain of the listener; re-read on SIGHUP.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`; re-read on SIGHUP.
    pub key_file: Option<PathBuf>,
}

impl ServerTls {
    /// The certificate and key paths when TLS is on.
    pub fn files(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        Some((self.cert_file.as_deref()?, self.key_file.as_deref()?))
    }

    /// Every problem with the files (see [`UpstreamTls::validate`]).
    pub fn validate(&self) -> Vec<String> {
        match (&self.cert_file, &self.key_file) {
            (Some(c), Some(k)) => certs::check_pair(c, k, "server.tls.cert_file"),
            (None, None) => Vec::new(),
            _ => vec!["server.tls.cert_file and key_file must be set together".to_owned()],
        }
    }
}

/// `upstream.proxy` with any credentials hidden, for logs and messages
/// (`http://user:secret@proxy:3128` → `http://***@proxy:3128`).
pub fn redact_proxy(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[end..]),
                None => url.to_owned(),
            }
        }
        None if url.contains('@') => "***".to_owned(),
        None => url.to_owned(),
    }
}

/// Problems with `upstream.proxy`: only `http://host:port` proxies (optionally with
/// `user:password@`) are supported; messages never echo credentials.
pub fn proxy_problems(url: &str) -> Vec<String> {
    let shown = redact_proxy(url);
    let bad = |why: &str| vec![format!("upstream.proxy `{shown}`: {why}")];
    let Ok(uri) = url.parse::<Uri>() else {
        return bad("not a URL such as http://proxy.corp:3128");
    };
    match uri.scheme_str() {
        Some("http") => {}
        Some(_) => return bad("only http:// egress proxies are supported (HTTP CONNECT)"),
        None => return bad("missing scheme, e.g. http://proxy.corp:3128"),
    }
    if uri.host().is_none_or(str::is_empty) {
        return bad("missing host");
    }
    if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return bad("must not have a path or query");
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_never_shown() {
        assert_eq!(
            redact_proxy("http://u:s3cret@proxy:3128"),
            "http://***@proxy:3128"
        );
        assert_eq!(redact_proxy("http://proxy:3128"), "http://proxy:3128");
        for bad in [
            "socks5://u:s3cret@p:1080",
            "http://u:s3cret@p:1/x",
            "u:s3cret@p",
        ] {
            let p = proxy_problems(bad).join("\n");
            assert!(!p.is_empty() && !p.contains("s3cret"), "{bad}: {p}");
        }
        assert!(proxy_problems("http://u:s3cret@proxy:3128").is_empty());
        assert!(proxy_problems("http://proxy.corp:3128/").is_empty());
    }

    #[test]
    fn half_configured_pairs_are_refused() {
        let up = UpstreamTls {
            client_cert_file: Some("c.pem".into()),
            ..UpstreamTls::default()
        };
        assert!(up.validate()[0].contains("together"));
        let srv = ServerTls {
            key_file: Some("k.pem".into()),
            ..ServerTls::default()
        };
        assert!(srv.validate()[0].contains("together"));
        let name = UpstreamTls {
            server_name: Some("bad name!".into()),
            ..UpstreamTls::default()
        };
        assert!(name.validate()[0].contains("server_name"));
        assert!(UpstreamTls::default().validate().is_empty());
    }
}
