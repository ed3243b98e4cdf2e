//! TLS and the egress proxy: everything the shim needs to reach a production gateway over
//! HTTPS and to serve its own listener over TLS.
//!
//! * [`config`]: the `[upstream.tls]`, `upstream.proxy`, `upstream.http2` and `[server.tls]`
//!   settings and their checks (used by `check-config`).
//! * [`certs`]: reading and checking PEM certificates and keys.
//! * [`verify`]: the gateway certificate verifier (webpki, always on) that names the issuer
//!   of an untrusted certificate.
//! * [`egress`]: the TCP connector, direct or through an HTTP CONNECT proxy (`NO_PROXY`
//!   honoured).
//! * [`client`]: the HTTPS connector for the pooled upstream client (ALPN h2/http1.1,
//!   session resumption, mTLS, SNI override).
//! * [`errors`]: turns a failed connection into a clear cause and a metric kind.
//! * [`listener`]: the listener's TLS acceptor, its certificate reloadable on SIGHUP.
//!
//! One crypto provider, rustls's `ring`, is used everywhere (never the process default, so
//! another crate enabling a second provider cannot make a build ambiguous).

pub mod certs;
pub mod client;
pub mod config;
pub mod egress;
pub mod errors;
pub mod listener;
pub mod verify;

use std::sync::Arc;

pub use client::{ConnectorSettings, HttpsConnector, https_connector};
pub use config::{Http2Mode, ServerTls, UpstreamTls};
pub use errors::{Failure, FailureKind, classify};
pub use listener::TlsAcceptor;

/// The crypto provider used for every TLS connection the shim makes or accepts.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
