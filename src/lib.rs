//! bk-job-shim: a reverse proxy that keeps legacy BlueKing ESB JOB clients working
//! against JOB v3 on the BlueKing API gateway.
//!
//! ```text
//! client ─▶ [request id] ─▶ [body limit] ─▶ [identify app] ─▶ [allow-list]
//!        ─▶ [rate limit per app] ─▶ [route + translate legacy → v3 (pure)]
//!        ─▶ [inject X-Bkapi-Authorization, strip credentials] ─▶ upstream gateway
//!        ◀─ [translate response to the legacy envelope] ◀─┘
//! ```

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod healthcheck;
pub mod jobcache;
pub mod jwt;
pub mod metrics;
pub mod proxy;
pub mod ratelimit;
pub mod server;
pub mod shutdown;
pub mod stub;
pub mod telemetry;
pub mod translate;
pub mod upstream;
