#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `/metrics` text is checked with real Prometheus parsers, not string matching:
//!
//! - `promtool check metrics` (Debian package `prometheus`): parses the exposition with
//!   Prometheus' own parser and lints names (`_total`, base units, help text...).
//! - the Python `prometheus_client` parser (`pip install prometheus_client`): parses it
//!   again and gives the samples back, so label values with quotes, backslashes, newlines
//!   and non-ASCII characters are checked to round-trip exactly.
//!
//! Both tools are required: a missing tool fails the test with the install command (CI
//! installs them), it does not skip.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use bk_job_shim::metrics::{Metrics, app_label};

/// An app code a client could send, with every character that needs escaping.
const NASTY_APP: &str = "we\"ird\\app\nname";
/// A configured app code with non-ASCII characters.
const UNICODE_APP: &str = "运维-平台-α";
/// A rejection reason with quotes and a backslash (reasons are code-chosen, but the
/// exposition must still be correct whatever the string).
const NASTY_REASON: &str = r#"bad "ip_list" at \0"#;

fn run_with_stdin(mut cmd: Command, input: &str, install_hint: &str) -> Output {
    let program = format!("{:?}", cmd.get_program());
    let mut child = match cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "cannot run {program}: {e}\n\
             This test needs it and does not skip; install it with: {install_hint}"
        ),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn recorded() -> (Metrics, String) {
    let configured: BTreeSet<String> = ["bk_sops", UNICODE_APP, NASTY_APP]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let m = Metrics::new("0.1.0-test+\"quoted\"");

    let sops = app_label(Some("bk_sops"), &configured);
    let uni = app_label(Some(UNICODE_APP), &configured);
    let nasty = app_label(Some(NASTY_APP), &configured);
    let unknown = app_label(Some("somebody-else"), &configured);
    let missing = app_label(None, &configured);
    assert_eq!(nasty, NASTY_APP);
    assert_eq!(unknown, "other");
    assert_eq!(missing, "none");

    for i in 0..10u64 {
        m.observe_request(
            "fast_execute_script",
            sops,
            "ok",
            0,
            Duration::from_micros(300 + i * 1000),
        );
    }
    m.observe_request(
        "fast_execute_script",
        uni,
        "business_error",
        1_306_102,
        Duration::from_millis(40),
    );
    m.observe_request(
        "get_job_instance_log",
        nasty,
        "upstream_error",
        1_306_201,
        Duration::from_secs(61),
    );
    m.observe_request(
        "fast_push_file",
        unknown,
        "rate_limited",
        1_306_429,
        Duration::ZERO,
    );
    m.observe_request("unknown_route", missing, "denied", -1, Duration::ZERO);
    m.observe_request(
        "fast_execute_script",
        sops,
        "rejected",
        1_306_001,
        Duration::from_micros(200),
    );
    m.observe_upstream("fast_execute_script", Duration::from_millis(12));
    m.observe_upstream("get_job_instance_log", Duration::from_secs(60));
    m.upstream_error("timeout");
    m.upstream_error("status_5xx");
    m.upstream_error("status_5xx");
    m.rate_limited(unknown);
    m.rate_limited(uni);
    m.rate_limit_backend_error();
    m.translation_reject("fast_execute_script", NASTY_REASON);
    m.translation_reject("fast_execute_script", "steps_not_supported");
    m.steps_ignored();
    m.config_reload(true);
    m.config_reload(false);
    m.set_draining(true);
    let guard = m.in_flight();
    let _guard2 = m.in_flight();
    drop(guard);
    let text = m.render();
    (m, text)
}

#[test]
fn promtool_accepts_and_lints_clean() {
    let (_m, text) = recorded();
    let mut cmd = Command::new("promtool");
    cmd.args(["check", "metrics"]);
    let out = run_with_stdin(cmd, &text, "apt-get install -y prometheus");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
        "promtool check metrics reported problems (status {:?}):\nstdout:\n{stdout}\nstderr:\n{stderr}\n\
         exposition:\n{text}",
        out.status
    );
}

/// One parsed sample: (sample name, labels) → value.
type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// Parses `text` with the Python `prometheus_client` parser; returns the samples and the
/// (family name, type) pairs.
fn python_parse(text: &str) -> (Samples, BTreeMap<String, String>) {
    const SCRIPT: &str = r#"
import json, sys
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as e:
    sys.exit("prometheus_client is not installed (%s)" % e)
text = sys.stdin.buffer.read().decode("utf-8")
families, samples = {}, []
for fam in text_string_to_metric_families(text):
    families[fam.name] = fam.type
    for s in fam.samples:
        samples.append({"name": s.name, "labels": s.labels, "value": s.value})
json.dump({"families": families, "samples": samples}, sys.stdout, ensure_ascii=True)
"#;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", SCRIPT]);
    let out = run_with_stdin(cmd, text, "pip install prometheus_client");
    assert!(
        out.status.success(),
        "the Python prometheus_client parser failed (install it with `pip install \
         prometheus_client` if missing):\n{}\nexposition:\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut samples = Samples::new();
    for s in parsed["samples"].as_array().unwrap() {
        let labels = s["labels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let key = (s["name"].as_str().unwrap().to_owned(), labels);
        let previous = samples.insert(key.clone(), s["value"].as_f64().unwrap());
        assert!(previous.is_none(), "duplicate sample {key:?}");
    }
    let families = parsed["families"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    (samples, families)
}

fn get(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let key = (
        name.to_owned(),
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    match samples.get(&key) {
        Some(v) => *v,
        None => panic!(
            "no sample {key:?}; samples of {name}:\n{:#?}",
            samples
                .keys()
                .filter(|(n, _)| n == name)
                .collect::<Vec<_>>()
        ),
    }
}

#[test]
fn python_parser_round_trips_values_and_labels() {
    let (_m, text) = recorded();
    let (s, families) = python_parse(&text);

    // Every family with its type. The Python parser strips `_total` from counter families.
    let expected_families = [
        ("bk_job_shim_build_info", "gauge"),
        ("bk_job_shim_requests", "counter"),
        ("bk_job_shim_request_duration_seconds", "histogram"),
        ("bk_job_shim_upstream_duration_seconds", "histogram"),
        ("bk_job_shim_upstream_errors", "counter"),
        ("bk_job_shim_rate_limited", "counter"),
        ("bk_job_shim_rate_limit_backend_errors", "counter"),
        ("bk_job_shim_translation_rejects", "counter"),
        ("bk_job_shim_steps_ignored", "counter"),
        ("bk_job_shim_in_flight_requests", "gauge"),
        ("bk_job_shim_config_reloads", "counter"),
        ("bk_job_shim_config_last_reload_successful", "gauge"),
        (
            "bk_job_shim_config_last_reload_success_timestamp_seconds",
            "gauge",
        ),
        ("bk_job_shim_draining", "gauge"),
    ];
    let expected: BTreeMap<String, String> = expected_families
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(families, expected);

    // Escaped label values come back exactly.
    let build_info = get(
        &s,
        "bk_job_shim_build_info",
        &[("version", "0.1.0-test+\"quoted\"")],
    );
    assert_eq!(build_info, 1.0);
    let req = "bk_job_shim_requests_total";
    assert_eq!(
        get(
            &s,
            req,
            &[
                ("route", "get_job_instance_log"),
                ("app_code", NASTY_APP),
                ("outcome", "upstream_error"),
                ("code", "1306201"),
            ],
        ),
        1.0
    );
    assert_eq!(
        get(
            &s,
            req,
            &[
                ("route", "fast_execute_script"),
                ("app_code", UNICODE_APP),
                ("outcome", "business_error"),
                ("code", "1306102"),
            ],
        ),
        1.0
    );
    assert_eq!(
        get(
            &s,
            req,
            &[
                ("route", "fast_execute_script"),
                ("app_code", "bk_sops"),
                ("outcome", "ok"),
                ("code", "0"),
            ],
        ),
        10.0
    );
    assert_eq!(
        get(
            &s,
            req,
            &[
                ("route", "fast_push_file"),
                ("app_code", "other"),
                ("outcome", "rate_limited"),
                ("code", "1306429"),
            ],
        ),
        1.0
    );
    assert_eq!(
        get(
            &s,
            req,
            &[
                ("route", "unknown_route"),
                ("app_code", "none"),
                ("outcome", "denied"),
                ("code", "other"),
            ],
        ),
        1.0
    );
    assert_eq!(
        get(
            &s,
            "bk_job_shim_translation_rejects_total",
            &[("route", "fast_execute_script"), ("reason", NASTY_REASON)],
        ),
        1.0
    );

    // Histogram: buckets are cumulative, +Inf == count, sum in seconds.
    let h = "bk_job_shim_request_duration_seconds";
    let fes = ("route", "fast_execute_script");
    let bucket = |le: &str| get(&s, &format!("{h}_bucket"), &[fes, ("le", le)]);
    // 10 ok requests at 0.3 ms .. 9.3 ms, one rejected at 0.2 ms, one at 40 ms.
    assert_eq!(bucket("0.0005"), 2.0);
    assert_eq!(bucket("0.001"), 2.0);
    assert_eq!(bucket("0.0025"), 4.0);
    assert_eq!(bucket("0.005"), 6.0);
    assert_eq!(bucket("0.01"), 11.0);
    assert_eq!(bucket("0.05"), 12.0);
    assert_eq!(bucket("60"), 12.0);
    assert_eq!(bucket("+Inf"), 12.0);
    assert_eq!(get(&s, &format!("{h}_count"), &[fes]), 12.0);
    let sum = get(&s, &format!("{h}_sum"), &[fes]);
    let expected_sum = 0.0002 + 0.040 + (0..10).map(|i| 0.0003 + 0.001 * i as f64).sum::<f64>();
    assert!((sum - expected_sum).abs() < 1e-9, "{sum} vs {expected_sum}");
    // Longer than the last bucket: only in +Inf.
    let log = ("route", "get_job_instance_log");
    assert_eq!(get(&s, &format!("{h}_bucket"), &[log, ("le", "60")]), 0.0);
    assert_eq!(get(&s, &format!("{h}_bucket"), &[log, ("le", "+Inf")]), 1.0);
    let u = "bk_job_shim_upstream_duration_seconds";
    assert_eq!(get(&s, &format!("{u}_bucket"), &[log, ("le", "60")]), 1.0);
    assert_eq!(get(&s, &format!("{u}_count"), &[fes]), 1.0);
    let buckets: Vec<&str> = s
        .keys()
        .filter(|(n, l)| {
            n == "bk_job_shim_upstream_duration_seconds_bucket"
                && l["route"] == "fast_execute_script"
        })
        .map(|(_, l)| l["le"].as_str())
        .collect();
    assert_eq!(buckets.len(), 17, "16 buckets + +Inf: {buckets:?}");

    // Other series.
    let e = "bk_job_shim_upstream_errors_total";
    assert_eq!(get(&s, e, &[("kind", "status_5xx")]), 2.0);
    assert_eq!(get(&s, e, &[("kind", "timeout")]), 1.0);
    assert_eq!(get(&s, e, &[("kind", "connect")]), 0.0);
    assert_eq!(get(&s, e, &[("kind", "bad_body")]), 0.0);
    let rl = "bk_job_shim_rate_limited_total";
    assert_eq!(get(&s, rl, &[("app_code", "other")]), 1.0);
    assert_eq!(get(&s, rl, &[("app_code", UNICODE_APP)]), 1.0);
    assert_eq!(
        get(&s, "bk_job_shim_rate_limit_backend_errors_total", &[]),
        1.0
    );
    assert_eq!(get(&s, "bk_job_shim_steps_ignored_total", &[]), 1.0);
    assert_eq!(get(&s, "bk_job_shim_in_flight_requests", &[]), 1.0);
    let cr = "bk_job_shim_config_reloads_total";
    assert_eq!(get(&s, cr, &[("result", "ok")]), 1.0);
    assert_eq!(get(&s, cr, &[("result", "error")]), 1.0);
    assert_eq!(
        get(&s, "bk_job_shim_config_last_reload_successful", &[]),
        0.0
    );
    assert!(
        get(
            &s,
            "bk_job_shim_config_last_reload_success_timestamp_seconds",
            &[]
        ) > 1.5e9
    );
    assert_eq!(get(&s, "bk_job_shim_draining", &[]), 1.0);
}

#[test]
fn fresh_registry_is_valid_too() {
    let text = Metrics::new("0.1.0").render();
    let mut cmd = Command::new("promtool");
    cmd.args(["check", "metrics"]);
    let out = run_with_stdin(cmd, &text, "apt-get install -y prometheus");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (samples, _) = python_parse(&text);
    assert_eq!(
        get(&samples, "bk_job_shim_build_info", &[("version", "0.1.0")]),
        1.0
    );
    assert_eq!(get(&samples, "bk_job_shim_in_flight_requests", &[]), 0.0);
}
