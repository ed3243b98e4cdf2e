#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Golden tests of the pure request translator.
//!
//! Every directory `tests/fixtures/requests/<case>/` holds:
//! * `legacy.json`: the legacy request body, as a client sends it;
//! * `meta.json`: `{"path": "<legacy path>", "steps": "reject" | "ignore"}`;
//! * `expected.json`: either the upstream request
//!   `{"method", "resource", "query", "body", "authorization", "warnings"}` (secrets in
//!   `authorization` shown as `***`), or `{"error": {"field", "reason"}}`.
//!
//! `UPDATE_FIXTURES=1 cargo test --test translate_golden` rewrites the expected files;
//! review every change by hand against `spec/bk-job-api.md` §2–4 before keeping it.

use bk_job_shim::translate::{Options, Route, StepsPolicy, parse_body, translate_request};
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/requests")
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[allow(clippy::field_reassign_with_default)]
fn options(steps: StepsPolicy) -> Options {
    let mut opts = Options::default();
    opts.steps = steps;
    opts
}

/// Run the translator on one case and render the result like `expected.json`.
fn actual(dir: &Path) -> Value {
    let meta = read_json(&dir.join("meta.json"));
    let path = meta["path"].as_str().expect("meta.json: path");
    let steps = match meta.get("steps").and_then(Value::as_str) {
        None | Some("reject") => StepsPolicy::Reject,
        Some("ignore") => StepsPolicy::Ignore,
        Some(other) => panic!("{}: unknown steps policy {other}", dir.display()),
    };
    let route =
        Route::from_path(path).unwrap_or_else(|| panic!("{}: no route for {path}", dir.display()));
    let bytes = fs::read(dir.join("legacy.json")).expect("legacy.json");
    let result =
        parse_body(&bytes).and_then(|body| translate_request(&route, body, &options(steps)));
    match result {
        Ok(t) => json!({
            "method": t.request.method,
            "resource": t.request.resource,
            "query": t.request.query,
            "body": t.request.body,
            "authorization": t.credentials.redacted(),
            "warnings": t.request.warnings,
        }),
        Err(e) => {
            assert!(
                !e.detail.is_empty(),
                "{}: error without detail",
                dir.display()
            );
            assert!(
                e.message().starts_with("Parameters error: ["),
                "{}: {}",
                dir.display(),
                e.message()
            );
            json!({"error": {"field": e.field, "reason": e.reason.as_str()}})
        }
    }
}

/// Paths where `expected` and `actual` differ, one line each.
fn diff(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => diff(&p, ev, av, out),
                    None => out.push(format!("  - {p}: expected {ev}, missing")),
                }
            }
            for (k, av) in a {
                if !e.contains_key(k) {
                    out.push(format!("  + {path}.{k}: unexpected {av}"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff(&format!("{path}[{i}]"), ev, av, out);
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!("  ~ {path}: expected {expected}, got {actual}")),
    }
}

#[test]
fn request_fixtures() {
    let update = std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = fs::read_dir(fixtures_dir())
        .expect("tests/fixtures/requests")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 40,
        "only {} fixture cases found",
        cases.len()
    );

    let mut failures = Vec::new();
    for dir in &cases {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        let got = actual(dir);
        let expected_path = dir.join("expected.json");
        if update {
            let text = serde_json::to_string_pretty(&got).expect("render") + "\n";
            fs::write(&expected_path, text).expect("write expected.json");
            continue;
        }
        if !expected_path.exists() {
            failures.push(format!(
                "{name}: no expected.json (run with UPDATE_FIXTURES=1)"
            ));
            continue;
        }
        let expected = read_json(&expected_path);
        if expected != got {
            let mut lines = Vec::new();
            diff("$", &expected, &got, &mut lines);
            failures.push(format!(
                "{name}:\n{}\n  actual:\n{}",
                lines.join("\n"),
                serde_json::to_string_pretty(&got).unwrap_or_default()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixture cases differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Every seed request example (docs A–D) is a fixture, byte for byte.
#[test]
fn seed_examples_are_fixtures() {
    let seeds = [
        (
            "000_eb0123c1a837c35e.txt",
            "seed_a_execute_job_steps_rejected",
        ),
        (
            "000_eb0123c1a837c35e.txt",
            "seed_a_execute_job_steps_ignored",
        ),
        (
            "003_acab26d04e5de695.txt",
            "seed_b_execute_job_target_server",
        ),
        ("001_4912c84c82e55678.txt", "seed_c_jobv3_execute_job_plan"),
        (
            "002_1b4b6a5aab192465.txt",
            "seed_d_jobv3_fast_execute_script",
        ),
    ];
    for (_, case) in seeds {
        let legacy = read_json(&fixtures_dir().join(case).join("legacy.json"));
        assert!(
            legacy.get("bk_app_secret").is_some(),
            "{case}: not the seed example"
        );
    }
    // The seed documents live outside the crate (in `../shared/seeds`, beside the checkout);
    // compare when they are available.
    let seed_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seeds");
    if !seed_dir.is_dir() {
        return;
    }
    for (file, case) in seeds {
        let text = fs::read_to_string(seed_dir.join(file)).expect("seed");
        let start = text.find("请求参数示例").expect("example heading");
        let rest = &text[start..];
        let open = rest.find("```").expect("code fence");
        let body_start = open + rest[open..].find('\n').expect("fence line") + 1;
        let body_len = rest[body_start..].find("```").expect("closing fence");
        let example = &rest[body_start..body_start + body_len];
        let fixture =
            fs::read_to_string(fixtures_dir().join(case).join("legacy.json")).expect("fixture");
        assert_eq!(example, fixture, "{case} is not verbatim {file}");
    }
}
