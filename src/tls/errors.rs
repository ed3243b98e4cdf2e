//! Turns a failed upstream connection into a cause a platform team can act on, and the
//! `kind` label of `bk_job_shim_upstream_errors_total` (`tls` or `proxy`).
//!
//! The error chain of a hyper-util client error is walked, looking inside `io::Error`s
//! (their `source()` skips the wrapped error), for a `rustls::Error` or an
//! [`EgressError::Proxy`]. Anything else (refused TCP connect, timeout, reset) is not a
//! TLS/proxy failure and is left to the caller's own classification.

use super::egress::EgressError;
use super::verify::UntrustedIssuer;
use rustls::pki_types::UnixTime;
use rustls::{AlertDescription, CertificateError, Error as TlsError};
use std::error::Error as StdError;

/// Which metric kind a failure counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Certificate, name, validity, client certificate, handshake.
    Tls,
    /// The egress proxy could not be reached or refused the tunnel.
    Proxy,
}

impl FailureKind {
    /// The `kind` label value.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Tls => "tls",
            FailureKind::Proxy => "proxy",
        }
    }
}

/// A classified TLS or proxy failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Metric kind.
    pub kind: FailureKind,
    /// Human cause, e.g. `upstream TLS: certificate not trusted (issuer CN=Corp CA)`.
    pub cause: String,
}

/// Find a TLS or proxy failure anywhere in `err`'s chain.
pub fn classify(err: &(dyn StdError + 'static)) -> Option<Failure> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(EgressError::Proxy { proxy, source }) = e.downcast_ref::<EgressError>() {
            return Some(Failure {
                kind: FailureKind::Proxy,
                cause: proxy_cause(proxy, &**source),
            });
        }
        if let Some(tls) = e.downcast_ref::<TlsError>() {
            return Some(Failure {
                kind: FailureKind::Tls,
                cause: format!("upstream TLS: {}", tls_cause(tls)),
            });
        }
        // h2 keeps only the text of an I/O error (its type is lost): a TLS alert that
        // arrives after the handshake (TLS 1.3 client certificate refusal) is read back
        // from rustls's message.
        if let Some(name) = e.to_string().strip_prefix("received fatal alert: ") {
            return Some(Failure {
                kind: FailureKind::Tls,
                cause: format!("upstream TLS: {}", alert_name_cause(name.trim())),
            });
        }
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    None
}

/// hyper-util does not export its tunnel error type, so its (tested) messages are read.
fn proxy_cause(proxy: &str, e: &(dyn StdError + 'static)) -> String {
    let text = e.to_string();
    if text.contains("proxy authorization required") {
        format!(
            "egress proxy {proxy} refused CONNECT: 407 Proxy Authentication Required (check the credentials in upstream.proxy)"
        )
    } else if text.contains("unsuccessful") {
        format!("egress proxy {proxy} refused CONNECT (it did not answer 200)")
    } else if text.contains("underlying connection") {
        format!("cannot connect to egress proxy {proxy}: {}", root(e))
    } else if text.contains("unexpected end of file") {
        format!("egress proxy {proxy} closed the connection during CONNECT")
    } else {
        format!("egress proxy {proxy}: CONNECT failed: {}", root(e))
    }
}

/// The innermost error's text.
fn root(e: &(dyn StdError + 'static)) -> String {
    let mut last = e;
    while let Some(s) = last.source() {
        last = s;
    }
    last.to_string()
}

fn tls_cause(e: &TlsError) -> String {
    match e {
        TlsError::InvalidCertificate(c) => certificate_cause(c),
        TlsError::AlertReceived(a) => alert_cause(*a),
        TlsError::InvalidMessage(_) => {
            format!("handshake failed ({e}); is the gateway serving https on this port?")
        }
        other => format!("handshake failed: {other}"),
    }
}

fn certificate_cause(c: &CertificateError) -> String {
    match c {
        CertificateError::Other(o) => match o.0.downcast_ref::<UntrustedIssuer>() {
            Some(u) => format!(
                "{u}; set upstream.tls.ca_file to the CA bundle that issued the gateway's certificate"
            ),
            None => format!("invalid certificate: {o}"),
        },
        CertificateError::UnknownIssuer => "certificate not trusted (unknown issuer)".to_owned(),
        CertificateError::NotValidForName => "certificate is not valid for the gateway's name \
             (set upstream.tls.server_name if the gateway is reached by another name)"
            .to_owned(),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "certificate is not valid for the name {:?} (it is for {}); set upstream.tls.server_name if the gateway is reached by another name",
            expected.to_str(),
            presented.join(", ")
        ),
        CertificateError::Expired => "certificate expired".to_owned(),
        CertificateError::ExpiredContext { not_after, .. } => {
            format!("certificate expired (not valid after {})", date(*not_after))
        }
        CertificateError::NotValidYet => "certificate not valid yet".to_owned(),
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!(
                "certificate not valid yet (not before {})",
                date(*not_before)
            )
        }
        CertificateError::Revoked => "certificate revoked".to_owned(),
        other => format!("invalid certificate: {other:?}"),
    }
}

fn alert_cause(a: AlertDescription) -> String {
    alert_name_cause(&format!("{a:?}"))
}

fn alert_name_cause(name: &str) -> String {
    match name {
        "CertificateRequired" => "the gateway demands a client certificate \
             (set upstream.tls.client_cert_file and client_key_file)"
            .to_owned(),
        "BadCertificate"
        | "UnknownCA"
        | "CertificateUnknown"
        | "CertificateRevoked"
        | "CertificateExpired"
        | "UnsupportedCertificate"
        | "AccessDenied" => {
            format!("the gateway refused the client certificate (alert {name})")
        }
        "HandshakeFailure" | "ProtocolVersion" | "InsufficientSecurity" => format!(
            "the gateway refused the handshake (alert {name}: no common protocol version or cipher suite)"
        ),
        other => format!("the gateway sent alert {other}"),
    }
}

fn date(t: UnixTime) -> String {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{}s after the epoch", t.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn wrapped(tls: TlsError) -> io::Error {
        // As hyper-rustls reports a handshake failure: io::Error(io::Error(rustls::Error)).
        io::Error::other(io::Error::new(io::ErrorKind::InvalidData, tls))
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let e = wrapped(TlsError::InvalidCertificate(CertificateError::Expired));
        let f = classify(&e);
        assert_eq!(
            f,
            Some(Failure {
                kind: FailureKind::Tls,
                cause: "upstream TLS: certificate expired".into()
            })
        );
        let e = wrapped(TlsError::AlertReceived(
            AlertDescription::CertificateRequired,
        ));
        let cause = classify(&e).map(|f| f.cause).unwrap_or_default();
        assert!(cause.contains("client_cert_file"), "{cause}");
        assert_eq!(classify(&io::Error::other("connection refused")), None);
    }

    #[test]
    fn proxy_refusals_name_the_status_not_the_credentials() {
        let e = EgressError::Proxy {
            proxy: "http://***@proxy:3128".into(),
            source: "tunnel error: proxy authorization required".into(),
        };
        let f = classify(&io::Error::other(e));
        let f = f.unwrap_or(Failure {
            kind: FailureKind::Tls,
            cause: String::new(),
        });
        assert_eq!(f.kind, FailureKind::Proxy);
        assert!(f.cause.contains("refused CONNECT: 407"), "{}", f.cause);
        assert_eq!(f.kind.label(), "proxy");
    }
}
