//! Protocol strictness, as nginx in front of a gateway would enforce it: checks on the
//! request head made before anything else reads the request.
//!
//! * `CONNECT` is refused (`405`): the shim is not a forward proxy.
//! * An HTTP/1.1 request must carry exactly one `Host` (`400`); HTTP/1.0 at most one;
//!   HTTP/2 uses `:authority` instead.
//! * `Transfer-Encoding` may only be exactly `chunked` (`501` otherwise: `gzip, chunked`,
//!   `identity`, two header lines, …), and never together with `Content-Length` (`400`),
//!   the classic request-smuggling ambiguity.
//!
//! Each refusal carries its HTTP status, used whatever `legacy.error_status` says (a
//! client that sent a broken request must see a broken-request status), with the legacy
//! envelope as body. Callback URLs are checked by [`callback_port_allowed`].

use http::{HeaderMap, Method, StatusCode, Version, header};

/// Why a request head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// `CONNECT`.
    #[error("method CONNECT is not allowed")]
    Connect,
    /// Not exactly one `Host` header on HTTP/1.1 (or more than one on HTTP/1.0).
    #[error("request must carry exactly one Host header")]
    Host,
    /// A transfer-coding other than plain `chunked`.
    #[error("transfer-coding not supported: only `chunked` is accepted")]
    TransferEncoding,
    /// Both `Transfer-Encoding` and `Content-Length`.
    #[error("request must not carry both Transfer-Encoding and Content-Length")]
    LengthAndChunked,
}

impl ProtocolError {
    /// The HTTP status of the refusal (used in every `legacy.error_status` mode).
    pub fn status(self) -> StatusCode {
        match self {
            ProtocolError::Connect => StatusCode::METHOD_NOT_ALLOWED,
            ProtocolError::Host | ProtocolError::LengthAndChunked => StatusCode::BAD_REQUEST,
            ProtocolError::TransferEncoding => StatusCode::NOT_IMPLEMENTED,
        }
    }
}

/// Checks a request head (see the module docs).
pub fn check_head(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> Result<(), ProtocolError> {
    if method == Method::CONNECT {
        return Err(ProtocolError::Connect);
    }
    let hosts = headers.get_all(header::HOST).iter().count();
    let host_ok = match version {
        Version::HTTP_11 => hosts == 1,
        Version::HTTP_10 | Version::HTTP_09 => hosts <= 1,
        _ => hosts <= 1,
    };
    if !host_ok {
        return Err(ProtocolError::Host);
    }
    let mut te = headers.get_all(header::TRANSFER_ENCODING).iter();
    if let Some(first) = te.next() {
        let plain = first
            .to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
        if !plain || te.next().is_some() {
            return Err(ProtocolError::TransferEncoding);
        }
        if headers.contains_key(header::CONTENT_LENGTH) {
            return Err(ProtocolError::LengthAndChunked);
        }
    }
    Ok(())
}

/// Ports a callback URL may name when `auth.callback_ports` is empty.
pub const DEFAULT_CALLBACK_PORTS: [u16; 2] = [80, 443];

/// True when `uri`'s port (explicit, else the scheme's default) is allowed: one of
/// `ports`, or 80/443 when `ports` is empty. A URI without an `http`/`https` scheme is
/// never allowed.
pub fn callback_port_allowed(uri: &http::Uri, ports: &[u16]) -> bool {
    let default = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return false,
    };
    let port = uri.port_u16().unwrap_or(default);
    if ports.is_empty() {
        DEFAULT_CALLBACK_PORTS.contains(&port)
    } else {
        ports.contains(&port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn head(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap_or(header::WARNING),
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("x")),
            );
        }
        h
    }

    #[test]
    fn connect_and_host_rules() {
        let one = head(&[("host", "a")]);
        let v11 = Version::HTTP_11;
        assert_eq!(check_head(&Method::POST, v11, &one), Ok(()));
        assert_eq!(
            check_head(&Method::CONNECT, v11, &one),
            Err(ProtocolError::Connect)
        );
        let none = HeaderMap::new();
        assert_eq!(
            check_head(&Method::GET, v11, &none),
            Err(ProtocolError::Host)
        );
        assert_eq!(check_head(&Method::GET, Version::HTTP_10, &none), Ok(()));
        assert_eq!(check_head(&Method::GET, Version::HTTP_2, &none), Ok(()));
        let two = head(&[("host", "a"), ("host", "b")]);
        assert_eq!(
            check_head(&Method::GET, v11, &two),
            Err(ProtocolError::Host)
        );
        assert_eq!(
            check_head(&Method::GET, Version::HTTP_10, &two),
            Err(ProtocolError::Host)
        );
        assert_eq!(
            ProtocolError::Connect.status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn only_plain_chunked() {
        let v11 = Version::HTTP_11;
        let ok = head(&[("host", "a"), ("transfer-encoding", "Chunked")]);
        assert_eq!(check_head(&Method::POST, v11, &ok), Ok(()));
        for te in [
            &["gzip, chunked"][..],
            &["identity"],
            &["chunked", "chunked"],
            &["chunked, gzip"],
        ] {
            let mut h = head(&[("host", "a")]);
            for v in te {
                h.append(header::TRANSFER_ENCODING, HeaderValue::from_static(v));
            }
            assert_eq!(
                check_head(&Method::POST, v11, &h),
                Err(ProtocolError::TransferEncoding),
                "{te:?}"
            );
        }
        let both = head(&[
            ("host", "a"),
            ("transfer-encoding", "chunked"),
            ("content-length", "3"),
        ]);
        assert_eq!(
            check_head(&Method::POST, v11, &both),
            Err(ProtocolError::LengthAndChunked)
        );
        assert_eq!(
            ProtocolError::TransferEncoding.status(),
            StatusCode::NOT_IMPLEMENTED
        );
    }

    #[test]
    fn callback_ports() {
        let u = |s: &str| s.parse::<http::Uri>().unwrap_or_default();
        assert!(callback_port_allowed(&u("http://cb.example/x"), &[]));
        assert!(callback_port_allowed(&u("https://cb.example:443/x"), &[]));
        assert!(!callback_port_allowed(&u("http://cb.example:6379/x"), &[]));
        assert!(!callback_port_allowed(&u("https://cb.example:8443/"), &[]));
        assert!(callback_port_allowed(
            &u("https://cb.example:8443/"),
            &[8443]
        ));
        assert!(!callback_port_allowed(&u("https://cb.example/"), &[8443]));
        assert!(!callback_port_allowed(&u("gopher://cb.example:80/"), &[]));
        assert!(!callback_port_allowed(&u("/relative"), &[]));
    }
}
