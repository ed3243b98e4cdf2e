//! bk-job-shim: a reverse proxy that keeps legacy BlueKing ESB JOB clients working
//! against JOB v3 on the BlueKing API gateway.
//!
//! ```text
//! client ─▶ [request id] ─▶ [body limit] ─▶ [identify app] ─▶ [allow-list]
//!        ─▶ [rate limit per app] ─▶ [route + translate legacy → v3 (pure)]
//!        ─▶ [inject X-Bkapi-Authorization, strip credentials] ─▶ upstream gateway
//!        ◀─ [translate response to the legacy envelope] ◀─┘
//! ```
//!
//! The pipeline is a tower stack built in one place, [`stack`], from validated
//! [`config::Settings`]: tower and tower-http layers for the generic concerns (panic
//! catcher, request id, sensitive headers, trace, load shed, concurrency limit,
//! deadline) and the shim's own layers in [`layer`], one concern per file, down to the
//! [`route`] handlers and the [`upstream`] service. [`server::serve`] is the one accept
//! loop; [`cores`] runs it once per serving core; [`app`] wires settings, stack and
//! listeners and swaps the stack on reload.
//! [`translate`] is pure: no hyper, no tokio, no I/O.

pub mod admin;
pub mod app;
pub mod auth;
pub mod budget;
pub mod cli;
pub mod config;
pub mod cores;
pub mod error;
pub mod healthcheck;
pub mod jobcache;
pub mod jwt;
pub mod layer;
pub mod metrics;
pub mod protocol;
pub mod ratelimit;
pub mod redis_conn;
pub mod route;
pub mod server;
pub mod shutdown;
pub mod stack;
#[cfg(feature = "stub")]
pub mod stub;
pub mod telemetry;
pub mod tls;
pub mod translate;
pub mod upstream;
