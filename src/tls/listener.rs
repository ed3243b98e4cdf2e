//! TLS on the shim's own API listener (`[server.tls]`).
//!
//! The certificate is served by a resolver holding an `ArcSwap<CertifiedKey>`: a reload
//! (SIGHUP) reads and checks the new files and swaps the key in one atomic store. Handshakes
//! that start afterwards get the new certificate; established connections keep theirs and
//! are never dropped. A reload that fails keeps the old certificate.

use super::certs;
use super::config::ServerTls;
use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

#[derive(Debug)]
struct Current(ArcSwap<CertifiedKey>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// The listener's TLS acceptor; cheap to clone (clones share the certificate).
#[derive(Clone)]
pub struct TlsAcceptor {
    acceptor: tokio_rustls::TlsAcceptor,
    current: Arc<Current>,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor").finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// The acceptor for `[server.tls]`, or `None` when TLS is off.
    pub fn from_config(tls: &ServerTls) -> Result<Option<TlsAcceptor>, String> {
        match tls.files() {
            Some((cert, key)) => TlsAcceptor::from_files(cert, key).map(Some),
            None if tls.cert_file.is_some() || tls.key_file.is_some() => {
                Err("server.tls.cert_file and key_file must be set together".to_owned())
            }
            None => Ok(None),
        }
    }

    /// Read and check `cert` + `key` and build the acceptor (HTTP/1.1 by ALPN).
    pub fn from_files(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
        let pair = certs::certified_key(cert, key, "server.tls.cert_file")?;
        let current = Arc::new(Current(ArcSwap::new(pair)));
        let mut config = ServerConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("server.tls: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        // The listener speaks HTTP/1.1 only (legacy ESB clients).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            current,
        })
    }

    /// Swap in the certificate of `tls` (re-read from disk). On error nothing changes.
    pub fn reload(&self, tls: &ServerTls) -> Result<(), String> {
        let Some((cert, key)) = tls.files() else {
            return Err(
                "server.tls cannot be switched off by a reload; restart the shim".to_owned(),
            );
        };
        let pair = certs::certified_key(cert, key, "server.tls.cert_file")?;
        self.current.0.store(pair);
        Ok(())
    }

    /// The certificate chain now served (for tests and logs).
    pub fn current_chain(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        self.current.0.load().cert.clone()
    }

    /// Run the TLS handshake on an accepted connection (the caller bounds its time).
    pub async fn accept<IO>(&self, io: IO) -> std::io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        self.acceptor.accept(io).await
    }
}
