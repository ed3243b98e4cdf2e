//! Logging: `tracing` with a `RUST_LOG`-style filter, plain or JSON lines on stderr.
//! Plain lines carry ANSI colours only when stderr is a terminal (not in a file, a pipe,
//! journald or `kubectl logs`).
//!
//! Lines are written off the request path: a request formats its line and queues it; one
//! writer thread (`tracing-appender`) drains the queue into a buffer and writes it to
//! stderr whenever the queue runs empty, so a busy shim makes one `write` per batch rather
//! than one per request. Nothing is dropped: when the queue is full, the logging task waits
//! (the backpressure a synchronous write would exert). The [`LogGuard`] flushes what is
//! queued when the process ends.
//!
//! Secrets never reach the logs: credentials are lifted out of bodies before anything is
//! logged, `Credentials`/`AppIdentity` print secrets as `***`, request bodies and
//! headers are never logged, and the upstream `X-Bkapi-Authorization` value is marked
//! sensitive.

mod fields;

use fields::PlainFields;

use crate::config::LogFormat;
use std::io::{BufWriter, IsTerminal};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Lines queued for the writer thread before logging waits (about 300 bytes each).
const QUEUED_LINES: usize = 1024;
/// Buffer of the writer thread: the most one `write` to stderr carries.
const WRITE_BUFFER: usize = 64 * 1024;

/// Keeps the log writer thread; dropping it writes out every queued line.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: WorkerGuard,
}

/// Install the global subscriber. `RUST_LOG` wins over `filter` when set. Keep the
/// returned guard until the process ends.
pub fn init(format: LogFormat, filter: &str) -> LogGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("bk-job-shim-log")
        .finish(BufWriter::with_capacity(WRITE_BUFFER, std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
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
