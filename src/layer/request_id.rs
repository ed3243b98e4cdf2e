//! The shim's request-id scheme for tower-http's `SetRequestId` / `PropagateRequestId`.
//!
//! * An incoming `X-Request-Id` is kept when it is 1 to 128 visible ASCII characters
//!   ([`drop_unusable`] removes any other, before `SetRequestId` runs, so nothing odd is
//!   echoed or logged).
//! * Otherwise [`MintRequestId`] makes one: 32 hex characters, like APIGW's
//!   `X-Request-ID` (a dash-less UUID), from a random 64-bit prefix drawn once per
//!   process and a counter — unique across replicas and restarts without a `getrandom`
//!   system call on every request.

use http::{HeaderValue, Request};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use tower_http::request_id::{MakeRequestId, RequestId};

/// The request-id header, in and out.
pub const X_REQUEST_ID: &str = "x-request-id";

/// Mints request ids ([`mint`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MintRequestId;

impl MakeRequestId for MintRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&mint()).ok().map(RequestId::new)
    }
}

/// Remove an incoming `X-Request-Id` the shim will not echo (see the module doc).
pub fn drop_unusable<B>(mut req: Request<B>) -> Request<B> {
    let usable = req
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| usable(s.trim()) && s.trim() == s);
    if !usable {
        req.headers_mut().remove(X_REQUEST_ID);
    }
    req
}

/// A request id we are willing to echo and log: 1 to 128 visible ASCII characters.
pub fn usable(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())
}

/// The request id of a request that went through `SetRequestId`.
pub fn of<B>(req: &Request<B>) -> String {
    req.extensions()
        .get::<RequestId>()
        .and_then(|r| r.header_value().to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(mint)
}

/// A new request id.
pub fn mint() -> String {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix:016x}{n:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_request_ids_are_32_hex_and_unique() {
        let a = mint();
        let b = mint();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(a[..16], b[..16], "same process prefix");
    }

    #[test]
    fn unusable_incoming_ids_are_dropped() {
        let with = |v: &str| {
            let mut r = Request::new(());
            if let Ok(v) = HeaderValue::from_str(v) {
                r.headers_mut().insert(X_REQUEST_ID, v);
            }
            drop_unusable(r).headers().contains_key(X_REQUEST_ID)
        };
        assert!(with("abc-123"));
        assert!(!with(""));
        assert!(!with("has space"));
        assert!(!with(&"x".repeat(129)));
    }
}
