//! The HTTPS connector of the pooled upstream client.
//!
//! hyper-rustls's `HttpsConnector` over [`EgressConnector`] (direct or CONNECT tunnel):
//!
//! * trust: the system store (rustls-native-certs) unless `upstream.tls.ca_file` is set;
//!   webpki verification of chain, validity and host name, always on (no skip switch);
//! * mTLS: `client_cert_file` + `client_key_file` presented when the gateway asks;
//! * `server_name`: SNI and verification name instead of the URL's host;
//! * ALPN: `h2` + `http/1.1` when `upstream.http2 = "auto"` (the pooled client then keeps
//!   one multiplexed h2 connection), nothing (HTTP/1.1) when `"never"`;
//! * resumption: one `ClientConfig` (and so rustls's in-memory session cache, 256 entries)
//!   is shared by every connection of the pool, so new connections resume the TLS session.

use super::certs;
use super::config::{Http2Mode, UpstreamTls};
use super::egress::EgressConnector;
use super::verify::NamingVerifier;
use hyper_rustls::{FixedServerNameResolver, HttpsConnectorBuilder};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::ServerName;
use rustls::sign::SingleCertAndKey;
use rustls::{ClientConfig, RootCertStore};
use std::sync::Arc;
use std::time::Duration;

/// The connector type of the upstream client.
pub type HttpsConnector = hyper_rustls::HttpsConnector<EgressConnector>;

/// Everything the connector is built from (a slice of `[upstream]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectorSettings {
    /// `[upstream.tls]`.
    pub tls: UpstreamTls,
    /// `upstream.http2`.
    pub http2: Http2Mode,
    /// `upstream.proxy`.
    pub proxy: Option<String>,
    /// `NO_PROXY`-style list of hosts reached without the proxy.
    pub no_proxy: String,
    /// TCP connect timeout (to the gateway, or to the proxy).
    pub connect_timeout: Duration,
}

/// The rustls client configuration for the gateway (without ALPN, set by the connector).
pub fn client_config(tls: &UpstreamTls) -> Result<ClientConfig, String> {
    let roots = certs::root_store(tls.ca_file.as_deref())?;
    config_with_roots(tls, roots)
}

fn config_with_roots(tls: &UpstreamTls, roots: RootCertStore) -> Result<ClientConfig, String> {
    let provider = super::provider();
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("upstream.tls: {e}"))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("upstream.tls: {e}"))?
        // Not a weakening: NamingVerifier delegates every check to webpki and only names
        // the issuer of an untrusted certificate in the error.
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NamingVerifier::new(webpki)));
    Ok(match (&tls.client_cert_file, &tls.client_key_file) {
        (Some(cert), Some(key)) => {
            let pair = certs::certified_key(cert, key, "upstream.tls.client_cert_file")?;
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(pair)))
        }
        _ => builder.with_no_client_auth(),
    })
}

/// Build the connector. `https` says whether the upstream URL is `https://`: a plain http
/// upstream never loads trust roots (no TLS is spoken; an egress proxy may still be used).
pub fn https_connector(s: &ConnectorSettings, https: bool) -> Result<HttpsConnector, String> {
    let config = if https {
        client_config(&s.tls)?
    } else {
        ClientConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("upstream.tls: {e}"))?
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth()
    };
    let egress = EgressConnector::new(s.connect_timeout, s.proxy.as_deref(), &s.no_proxy);
    let mut builder = HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http();
    if let Some(name) = &s.tls.server_name {
        let name = ServerName::try_from(name.clone()).map_err(|_| {
            format!("upstream.tls.server_name `{name}` is not a valid DNS name or IP address")
        })?;
        builder = builder.with_server_name_resolver(FixedServerNameResolver::new(name));
    }
    let builder = builder.enable_http1();
    Ok(match s.http2 {
        Http2Mode::Auto => builder.enable_http2().wrap_connector(egress),
        // No ALPN at all: the gateway speaks HTTP/1.1.
        Http2Mode::Never => builder.wrap_connector(egress),
    })
}
