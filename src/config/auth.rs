//! `[auth]`: credential model, allow-lists and inbound JWT.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Credential model (`auth.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Move the client's credentials into `X-Bkapi-Authorization`.
    #[default]
    Passthrough,
    /// Use the shim's own app code and secret; the user comes from the client.
    App,
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `passthrough` or `app`.
    pub mode: AuthMode,
    /// App codes allowed to call the shim; empty = any.
    pub allowed_apps: Vec<String>,
    /// `app` mode: the shim's app code.
    pub app_code: String,
    /// `app` mode: environment variable holding the shim's app secret.
    pub app_secret_env: String,
    /// `app` mode: file holding the shim's app secret (wins over the env var).
    pub app_secret_file: Option<PathBuf>,
    /// `app` mode: call `/api/v3/system/*` and send the user as `X-Bk-Username`.
    pub system_api: bool,
    /// Hosts allowed in `callback_url`; empty = any.
    pub callback_hosts: Vec<String>,
    /// Ports allowed in `callback_url`; empty = 80 and 443 only.
    pub callback_ports: Vec<u16>,
    /// `[auth.jwt]`: inbound JWT verification.
    pub jwt: crate::jwt::JwtConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::Passthrough,
            allowed_apps: Vec::new(),
            app_code: String::new(),
            app_secret_env: "BK_JOB_SHIM_APP_SECRET".into(),
            app_secret_file: None,
            system_api: false,
            callback_hosts: Vec::new(),
            callback_ports: Vec::new(),
            jwt: crate::jwt::JwtConfig::default(),
        }
    }
}

impl AuthConfig {
    /// Every rule of `[auth]` (and `[auth.jwt]`).
    pub fn validate(&self, p: &mut Vec<String>) {
        p.extend(crate::jwt::problems(&self.jwt));
        if self.mode == AuthMode::App && self.app_code.is_empty() {
            p.push("auth.app_code is required when auth.mode = \"app\"".to_owned());
        }
        if self.jwt.leeway > Duration::from_secs(24 * 3600) {
            p.push("auth.jwt.leeway must be at most 1 day".to_owned());
        }
    }
}
