//! Environment overrides: `BK_JOB_SHIM_<SECTION>__<KEY>[__<SUBKEY>…]` applied to the TOML
//! table before it is deserialized. The environment is passed in as an iterator, so tests
//! never mutate the process environment.

use super::{ENV_PREFIX, SECTIONS};

/// Read an environment value as TOML when it parses as one, else as a string.
fn env_value(raw: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

/// Apply `BK_JOB_SHIM_<SECTION>__<KEY>` overrides to a TOML table.
pub(super) fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    problems: &mut Vec<String>,
) {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        // BK_JOB_SHIM_<SECTION>__<KEY>[__<SUBKEY>…], e.g. BK_JOB_SHIM_AUTH__JWT__REQUIRED.
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let [section, keys @ ..] = path.as_slice() else {
            continue;
        };
        if keys.is_empty() {
            // e.g. BK_JOB_SHIM_APP_SECRET: not a config key.
            continue;
        }
        if !SECTIONS.contains(&section.as_str()) {
            problems.push(format!("{name}: unknown section `{section}`"));
            continue;
        }
        if let Err(part) = set_path(table, &path, env_value(&raw)) {
            problems.push(format!("{name}: `{part}` is not a table"));
        }
    }
}

/// Set `path` (all but the last element are tables, created when missing) to `value`.
/// `Err` names a path element that exists but is not a table.
fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    match path {
        [] => Ok(()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => match table
            .entry(first.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        {
            toml::Value::Table(t) => set_path(t, rest, value),
            _ => Err(first.clone()),
        },
    }
}
