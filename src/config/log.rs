//! `[log]`: output format and filter.

use serde::Deserialize;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `plain` or `json`.
    pub format: LogFormat,
    /// `RUST_LOG`-style filter (the `RUST_LOG` variable wins when set).
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Plain,
            filter: "info".into(),
        }
    }
}

impl LogConfig {
    /// Every rule of `[log]`.
    pub fn validate(&self, p: &mut Vec<String>) {
        if tracing_subscriber::EnvFilter::try_new(&self.filter).is_err() {
            p.push(format!(
                "log.filter `{}` is not a valid filter",
                self.filter
            ));
        }
    }
}
