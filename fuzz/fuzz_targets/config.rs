//! The configuration parser: TOML text, then `BK_JOB_SHIM_*` environment overrides.
//!
//! Input: `<toml>` or `<toml>\0<NAME=value lines>`. Checked: no panic; a configuration
//! that loads also answers `problems()`.
#![no_main]

use bk_job_shim::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (toml_text, env_text) = text.split_once('\0').unwrap_or((text, ""));
    let env: Vec<(String, String)> = env_text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if let Ok(cfg) = Config::from_toml_str(toml_text, env) {
        let _ = cfg.problems();
    }
});
