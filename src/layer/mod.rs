//! The shim's own tower layers, one concern per file (DESIGN §8). The order they are
//! stacked in, with tower and tower-http's own layers, is in [`crate::stack`].
//!
//! Conventions shared by every layer here:
//! * a refusal is not an `Err` but a response carrying a [`Failure`] extension and an
//!   empty body; the [`envelope`] layer renders it into the legacy reply (the one status
//!   mapping, `crate::error`), so the layers on the way out (rate-limit headers, metrics,
//!   the access log) still see it;
//! * per-request facts travel as typed request or response extensions ([`Route`],
//!   [`crate::auth::Caller`], [`crate::auth::UpstreamAuth`], [`AppLabel`], [`Outcome`],
//!   [`LegacyRequestId`]), never as a hand-carried context.
//!
//! [`Route`]: crate::translate::Route

pub mod cutoff;
pub mod envelope;
pub mod identify;
pub mod inject_auth;
pub mod jwt;
pub mod legacy_body;
pub mod metrics;
pub mod ratelimit;
pub mod request_id;
pub mod trace;
pub mod translate;

use crate::error::ShimError;
use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

/// Errors inside the stack (tower's convention).
pub type BoxError = tower::BoxError;

/// The response type of every layer below the trace layer.
pub type Resp = Response<Full<Bytes>>;

/// A boxed response future (the layers here are `async` code).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Response extension: why the request was refused or failed. Rendered by
/// [`envelope`]; read by metrics and the access log.
#[derive(Debug, Clone)]
pub struct Failure(pub ShimError);

/// Response extension: the legacy `code` of a reply that reached the upstream, and its
/// metric outcome (`ok` or `business_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Legacy `code` sent to the client.
    pub code: i64,
    /// Metric `outcome` label.
    pub outcome: &'static str,
}

/// Response extension: the bounded metric label of the caller's app code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppLabel(pub Cow<'static, str>);

/// Response extension: the legacy `request_id` (the gateway's `X-Bkapi-Request-ID` of the
/// first upstream reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyRequestId(pub String);

/// A refusal: an empty response carrying `e` as its [`Failure`].
pub fn refuse(e: ShimError) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    r.extensions_mut().insert(Failure(e));
    r
}

/// Swap `inner` for a clone, returning the one that was driven ready (tower's usual
/// pattern for calling an inner service from a `'static` future).
pub(crate) fn take<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}
