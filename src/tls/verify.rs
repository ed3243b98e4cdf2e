//! The gateway certificate verifier: rustls's webpki verifier (chain, validity, host name,
//! signatures: all always checked), wrapped only to name the issuer when the chain does not
//! lead to a trusted root, so the error can say *which* CA is missing.

use super::certs;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};
use std::sync::Arc;

/// The gateway's certificate does not chain to a trusted root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("certificate not trusted (issuer {issuer})")]
pub struct UntrustedIssuer {
    /// The issuer's distinguished name as written in the end-entity certificate.
    pub issuer: String,
}

/// Delegates every check to webpki; only rewrites "unknown issuer" into [`UntrustedIssuer`].
#[derive(Debug)]
pub struct NamingVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl NamingVerifier {
    /// Wrap a webpki verifier.
    pub fn new(inner: Arc<WebPkiServerVerifier>) -> NamingVerifier {
        NamingVerifier { inner }
    }
}

impl ServerCertVerifier for NamingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| match e {
                Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                    let issuer = certs::issuer(end_entity).unwrap_or_else(|| "unknown".into());
                    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                        UntrustedIssuer { issuer },
                    ))))
                }
                other => other,
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
