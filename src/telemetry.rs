//! Logging: `tracing` with a `RUST_LOG`-style filter, plain or JSON lines on stderr.
//! Plain lines carry ANSI colours only when stderr is a terminal (not in a file, a pipe,
//! journald or `kubectl logs`).
//!
//! Secrets never reach the logs: credentials are lifted out of bodies before anything is
//! logged, `Credentials`/`AppIdentity` print secrets as `***`, request bodies and
//! headers are never logged, and the upstream `X-Bkapi-Authorization` value is marked
//! sensitive.

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Install the global subscriber. `RUST_LOG` wins over `filter` when set.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
