//! Legacy ESB error codes the shim emits itself (`spec/bk-job-api.md` §5.3–5.4).
//! bk-job's own codes are passed through unchanged and are not listed here.

/// Success.
pub const OK: i64 = 0;
/// COMMON_ERROR: also app/user authentication failures.
pub const COMMON_ERROR: i64 = 1306000;
/// APP_PERMISSION_DENIED: app not allowed (allow-list, gateway 403).
pub const APP_PERMISSION_DENIED: i64 = 1306403;
/// COMPONENT_NOT_FOUND: unknown path, gateway 404.
pub const COMPONENT_NOT_FOUND: i64 = 1306404;
/// ARGUMENT_ERROR: the shim's own parameter errors.
pub const ARGUMENT_ERROR: i64 = 1306406;
/// RATE_LIMIT_RESTRICTION.
pub const RATE_LIMITED: i64 = 1306429;
/// REQUEST_THIRD_PARTY_ERROR: upstream unreachable, 5xx, timeout, bad reply.
pub const THIRD_PARTY_ERROR: i64 = 1306201;
