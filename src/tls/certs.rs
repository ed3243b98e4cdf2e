//! Reading and checking PEM certificates and private keys.
//!
//! Every error names the setting and the file, never the file's contents (a key file's
//! bytes are a secret; a PEM decoder's message may quote them).

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;
use x509_cert::Certificate;
use x509_cert::der::Decode;

/// Read every certificate of a PEM file (`what` names the setting, e.g. `upstream.tls.ca_file`).
pub fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{what} {shown}: cannot read: {e}"))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{what} {shown}: not a valid PEM certificate file"))?;
    if certs.is_empty() {
        return Err(format!("{what} {shown}: no PEM certificate found"));
    }
    for (i, c) in certs.iter().enumerate() {
        if Certificate::from_der(c).is_err() {
            return Err(format!(
                "{what} {shown}: certificate #{} is not a valid X.509 certificate",
                i + 1
            ));
        }
    }
    Ok(certs)
}

/// Read the private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(path: &Path, what: &str) -> Result<PrivateKeyDer<'static>, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{what} {shown}: cannot read: {e}"))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
        format!("{what} {shown}: no PEM private key found (PKCS#8, PKCS#1 or SEC1 expected)")
    })
}

/// The trust anchors for the gateway: the PEM bundle `ca_file` when set, else the system
/// trust store.
pub fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for (i, cert) in read_certs(path, "upstream.tls.ca_file")?
                .into_iter()
                .enumerate()
            {
                roots.add(cert).map_err(|e| {
                    format!(
                        "upstream.tls.ca_file {}: certificate #{} is not a usable trust anchor: {e}",
                        path.display(),
                        i + 1
                    )
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(
                    "no system trust roots found (install ca-certificates or set upstream.tls.ca_file)"
                        .to_owned(),
                );
            }
        }
    }
    Ok(roots)
}

/// A certificate chain and its private key, checked to belong together (`what` names the
/// setting pair, e.g. `upstream.tls.client_cert_file`).
pub fn certified_key(cert: &Path, key: &Path, what: &str) -> Result<Arc<CertifiedKey>, String> {
    let chain = read_certs(cert, what)?;
    let key_der = read_key(key, &what.replace("cert_file", "key_file"))?;
    CertifiedKey::from_der(chain, key_der, &super::provider())
        .map(Arc::new)
        .map_err(|e| {
            format!(
                "{what} {} and its key {}: {}",
                cert.display(),
                key.display(),
                match e {
                    rustls::Error::InconsistentKeys(_) => {
                        "the key does not belong to the certificate".to_owned()
                    }
                    other => other.to_string(),
                }
            )
        })
}

/// A problem with the validity period of `cert` at `now`, if any.
pub fn validity_problem(cert: &CertificateDer<'_>, now: UnixTime) -> Option<String> {
    let parsed = Certificate::from_der(cert).ok()?;
    let validity = &parsed.tbs_certificate.validity;
    let now = now.as_secs();
    let not_after = validity.not_after.to_unix_duration().as_secs();
    let not_before = validity.not_before.to_unix_duration().as_secs();
    if now > not_after {
        Some(format!("expired on {}", validity.not_after))
    } else if now < not_before {
        Some(format!("not valid before {}", validity.not_before))
    } else {
        None
    }
}

/// The issuer's distinguished name (RFC 4514 form), e.g. `CN=Corp Root CA,O=Corp`.
pub fn issuer(cert: &CertificateDer<'_>) -> Option<String> {
    let parsed = Certificate::from_der(cert).ok()?;
    Some(parsed.tbs_certificate.issuer.to_string())
}

/// Read `cert` + `key` and check them, including the certificate's validity period: the
/// problems `check-config` reports.
pub fn check_pair(cert: &Path, key: &Path, what: &str) -> Vec<String> {
    match certified_key(cert, key, what) {
        Err(e) => vec![e],
        Ok(ck) => ck
            .cert
            .first()
            .and_then(|c| validity_problem(c, UnixTime::now()))
            .map(|p| format!("{what} {}: the certificate {p}", cert.display()))
            .into_iter()
            .collect(),
    }
}
