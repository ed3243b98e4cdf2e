//! `[routes]` and `[paging]`: where some legacy calls go and how the legacy "every row"
//! list calls page through v3. The types live with the translation they steer
//! (`crate::translate::dialect`, `crate::translate::exchange`); this file checks them
//! against the rest of the configuration.

pub use crate::translate::dialect::{FastExecuteScriptTarget, RoutesConfig};
pub use crate::translate::exchange::PagingConfig;

use super::{AuthConfig, AuthMode};

/// Every rule of `[routes]`: the BK-CI plugin resource exists only under
/// `/api/v3/system/`, so it needs `auth.mode = "app"` with `auth.system_api = true`.
pub(super) fn validate_routes(routes: &RoutesConfig, auth: &AuthConfig, p: &mut Vec<String>) {
    if let Err(e) = routes.validate(auth.mode == AuthMode::App, auth.system_api) {
        p.push(e);
    }
}

/// Every rule of `[paging]`.
pub(super) fn validate_paging(paging: &PagingConfig, p: &mut Vec<String>) {
    if let Err(e) = paging.validate() {
        p.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn problems(text: &str) -> Vec<String> {
        match Config::from_toml_str(text, Vec::new()) {
            Ok(_) => Vec::new(),
            Err(e) => e.0,
        }
    }

    #[test]
    fn bkci_plugin_needs_app_and_system_mode() {
        let bkci = "[routes]\nfast_execute_script = \"bkci-plugin\"\n";
        let p = problems(bkci);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("auth.system_api"), "{p:?}");
        let app = "[auth]\nmode = \"app\"\napp_code = \"shim\"\n";
        assert_eq!(problems(&format!("{bkci}{app}")).len(), 1);
        let ok = format!("{bkci}{app}system_api = true\n");
        assert!(problems(&ok).is_empty(), "{:?}", problems(&ok));
        let c = Config::from_toml_str(&ok, Vec::new()).unwrap_or_default();
        assert_eq!(
            c.routes.fast_execute_script,
            super::FastExecuteScriptTarget::BkciPlugin
        );
    }

    #[test]
    fn paging_bounds_and_unknown_keys_are_refused() {
        let p = problems("[paging]\nmax_rows = 0\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("paging.max_rows"), "{p:?}");
        let p = problems("[paging]\npage_length = 1001\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("paging.page_length"), "{p:?}");
        let p = problems("[paging]\nrows = 5\n[routes]\nfast_execute_script = \"v2\"\n");
        assert!(p.iter().any(|m| m.contains("paging.rows")), "{p:?}");
        assert!(
            p.iter().any(|m| m.contains("routes.fast_execute_script")),
            "{p:?}"
        );
        let c = Config::from_toml_str("[paging]\nmax_rows = 50\n", Vec::new()).unwrap_or_default();
        assert_eq!((c.paging.max_rows, c.paging.page_length), (50, 1000));
    }
}
