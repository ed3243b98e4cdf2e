//! Logging: `tracing` with a `RUST_LOG`-style filter, plain or JSON lines on stderr.
//! Plain lines carry ANSI colours only when stderr is a terminal (not in a file, a pipe,
//! journald or `kubectl logs`).
//!
//! Lines are written off the request path ([`batch`]): a request formats its line and
//! appends it to a shared buffer, and one writer thread writes the buffer to stderr at
//! most every 50 ms (sooner when 64 KiB are pending), one `write` per batch, without being
//! woken per line. Nothing is dropped: past 1 MiB pending, the logging thread writes the
//! buffer out itself, or waits for the writer (the backpressure a synchronous write would
//! exert). The [`LogGuard`] writes out what is pending when the process ends.
//!
//! A line's text is tracing-subscriber's, written with fewer steps: its time by
//! [`clock`], a plain line's fields by [`fields`].
//!
//! Secrets never reach the logs: credentials are lifted out of bodies before anything is
//! logged, `Credentials`/`AppIdentity` print secrets as `***`, request bodies and
//! headers are never logged, and the upstream `X-Bkapi-Authorization` value is marked
//! sensitive.

pub mod batch;
mod clock;
mod fields;

use batch::{BatchGuard, Batching};
use clock::LogClock;
use fields::PlainFields;

use crate::config::LogFormat;
use std::io::{IsTerminal, Stderr};
use tracing_subscriber::EnvFilter;

/// Keeps the log writer thread; dropping it writes out every pending line.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: BatchGuard<Stderr>,
}

/// Install the global subscriber. `RUST_LOG` wins over `filter` when set. Keep the
/// returned guard until the process ends.
pub fn init(format: LogFormat, filter: &str) -> LogGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = batch::batched(std::io::stderr(), Batching::default());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_timer(LogClock)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Plain => builder.fmt_fields(PlainFields).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    LogGuard { _writer: guard }
}
