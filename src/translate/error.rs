//! The one error type of the translation layer. Every variant names the offending field.

use std::fmt;

/// Why a legacy request was refused (a bounded set: it is a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The body is not a JSON object.
    InvalidJson,
    /// A field has the wrong JSON type (e.g. `bk_job_id: "abc"`).
    Type,
    /// A required field is absent or empty.
    Missing,
    /// A field has the right type but a bad value (range, enum, IPv4, base64, …).
    Invalid,
    /// Non-empty `steps` with `legacy.steps = "reject"`.
    Steps,
}

impl RejectReason {
    /// Metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::Type => "type",
            RejectReason::Missing => "missing",
            RejectReason::Invalid => "invalid",
            RejectReason::Steps => "steps",
        }
    }
}

/// A legacy request the shim refuses to forward. Answered as `1306406` with
/// [`TranslateError::message`] as the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateError {
    /// Category, for metrics.
    pub reason: RejectReason,
    /// JSON path of the field, e.g. `global_vars[0].ip_list[1].ip`.
    pub field: String,
    /// What is wrong with it, in plain words.
    pub detail: String,
}

impl TranslateError {
    /// Build an error for `field`.
    pub fn new(reason: RejectReason, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            reason,
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// The legacy-facing message: `Parameters error: [field] detail`.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TranslateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Parameters error: [{}] {}", self.field, self.detail)
    }
}

impl std::error::Error for TranslateError {}
