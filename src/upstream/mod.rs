//! The upstream gateway as a `tower::Service`: a v3 request in (`Request<Bytes>` whose
//! URI is a path + query such as `/api/v3/execute_job_plan`), a complete [`Reply`] out.
//!
//! * [`http`]: the pooled hyper-util client over the connector of [`connector`], with
//!   tower's timeout (`upstream.timeout`, the whole exchange, a wait for a turn under
//!   `upstream.max_in_flight` included) and a retry policy that
//!   retries only a failed connect (nothing was sent), once. A request that reached the
//!   upstream is never retried: an execution must not run twice.
//! * `stub` (cargo feature `stub`, on by default): the built-in emulator, chosen only
//!   here at wiring time for `upstream.url = "stub"`.
//! * [`reply`]: interpreting a reply as bk-job's envelope, or the gateway's error.
//!
//! Route handlers receive it boxed ([`UpstreamService`]), so a test can put a mock there.
//! Requests are built from scratch with an allow-list of headers, so no hop-by-hop
//! header (`Connection`, `Keep-Alive`, `TE`, `Upgrade`, `Proxy-*`, …) of the client ever
//! reaches the gateway, and none of the gateway's reaches the client.

pub mod connector;
pub mod http;
pub mod reply;
#[cfg(feature = "stub")]
pub mod stub;

use crate::config::{Settings, Target};
use crate::error::UpstreamError;
use ::http::{HeaderMap, Request};
use bytes::Bytes;
use tower::util::BoxCloneSyncService;

/// Largest upstream reply body read (logs can be large).
pub const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// A complete upstream reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Whole body.
    pub body: Bytes,
}

/// The upstream, boxed: what route handlers call.
pub type UpstreamService = BoxCloneSyncService<Request<Bytes>, Reply, UpstreamError>;

/// The upstream for `settings` (`upstream.url`). `stub` is the emulator to use for
/// `url = "stub"` (its job state outlives configuration reloads). Fails when the TLS
/// files of `[upstream.tls]` cannot be used.
pub fn build(
    settings: &Settings,
    #[cfg(feature = "stub")] stub: &stub::Stub,
) -> Result<UpstreamService, String> {
    Ok(match &settings.target {
        #[cfg(feature = "stub")]
        Target::Stub => BoxCloneSyncService::new(stub.clone()),
        #[cfg(not(feature = "stub"))]
        Target::Stub => BoxCloneSyncService::new(tower::service_fn(|_| async {
            Err(UpstreamError::Connect(
                "this build has no built-in emulator (cargo feature `stub`)".to_owned(),
            ))
        })),
        Target::Http(base) => http::service(base, &settings.config.upstream)?,
    })
}

/// Short description for logs. Safe to print: validation rejects upstream URLs that
/// carry credentials.
pub fn describe(target: &Target) -> String {
    match target {
        Target::Stub => "stub (built-in emulator)".to_owned(),
        Target::Http(u) => u.to_string().trim_end_matches('/').to_owned(),
    }
}
