//! Inbound JWT verification for `auth.mode = "app"` (DESIGN §4.2). Work in progress.

use serde::Deserialize;
use std::path::PathBuf;

/// `[auth.jwt]`: require callers to present a JWT signed by a trusted key.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// Require a valid JWT on every request.
    pub required: bool,
    /// PEM file with the RSA public key that signs the tokens.
    pub public_key_file: Option<PathBuf>,
}
