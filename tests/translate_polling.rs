//! Golden tests of the polling translations (`translate::status`, `translate::log`).
//!
//! Every directory under `tests/fixtures/status/` is one case:
//! * `v3.json`: the v3 `get_job_instance_status` answer (full `EsbResp`; `data` is used);
//! * `extras.json` (optional): the [`JobExtras`] the proxy knows; default: none;
//! * `tz.txt` (optional): the `legacy.timezone`; default `Asia/Shanghai`;
//! * `expected.json`: the legacy `data`, or `expected_error.json`:
//!   `{"reason", "field"}` of the expected [`TranslateError`].
//!
//! Every directory under `tests/fixtures/log/` is one case:
//! * `status.json`: the v3 status answer; `logs.json`: the array of
//!   `batch_get_job_instance_ip_log` answers (full `EsbResp`s; `data` is used);
//! * `tz.txt` (optional), as above;
//! * `expected_batches.json`: what `log_batches` must return;
//! * `expected.json`: the legacy `get_job_instance_log` `data`.
//!
//! `BLESS=1 cargo test --test translate_polling` rewrites the expected files from the
//! current output (review the diff before committing it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use bk_job_shim::translate::log::{LogBatch, MAX_HOSTS_PER_BATCH, log_batches, to_legacy_log};
use bk_job_shim::translate::status::{JobExtras, to_legacy_status};
use chrono_tz::Tz;
use serde_json::{Value, json};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no cases in {}", root.display());
    dirs
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `data` of a full `EsbResp`, or the value itself.
fn data_of(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.contains_key("code") => m.get("data").cloned().unwrap_or_default(),
        other => other.clone(),
    }
}

fn tz_of(case: &Path) -> Tz {
    match fs::read_to_string(case.join("tz.txt")) {
        Ok(s) => s.trim().parse().unwrap(),
        Err(_) => chrono_tz::Asia::Shanghai,
    }
}

fn blessing() -> bool {
    std::env::var_os("BLESS").is_some_and(|v| v == "1")
}

/// Compare `actual` with the JSON in `path` (or write it when blessing); `Err` is a report.
fn check(case: &Path, file: &str, actual: &Value) -> Result<(), String> {
    let path = case.join(file);
    if blessing() {
        let mut text = serde_json::to_string_pretty(actual).unwrap();
        text.push('\n');
        fs::write(&path, text).unwrap();
        return Ok(());
    }
    let expected = read_json(&path);
    if &expected == actual {
        return Ok(());
    }
    let mut lines = Vec::new();
    diff("$", &expected, actual, &mut lines);
    let mut report = format!("{}: {} differences\n", path.display(), lines.len());
    for line in lines.iter().take(40) {
        let _ = writeln!(report, "  {line}");
    }
    if lines.len() > 40 {
        let _ = writeln!(report, "  … {} more", lines.len() - 40);
    }
    Err(report)
}

/// Every path where `expected` and `actual` differ, with both values.
fn diff(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => diff(&format!("{path}.{k}"), ev, av, out),
                    None => out.push(format!("{path}.{k}: missing (expected {ev})")),
                }
            }
            for (k, av) in a {
                if !e.contains_key(k) {
                    out.push(format!("{path}.{k}: unexpected {av}"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff(&format!("{path}[{i}]"), ev, av, out);
            }
            if e.len() != a.len() {
                out.push(format!(
                    "{path}: expected {} elements, got {}",
                    e.len(),
                    a.len()
                ));
            }
        }
        _ if expected != actual => out.push(format!("{path}: expected {expected}, got {actual}")),
        _ => {}
    }
}

fn finish(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "\n{}\n(rerun with BLESS=1 to accept the new output)",
        failures.join("\n")
    );
}

#[test]
fn status_golden_cases() {
    let mut failures = Vec::new();
    for case in fixtures("status") {
        let v3 = data_of(&read_json(&case.join("v3.json")));
        let extras_path = case.join("extras.json");
        let extras: JobExtras = if extras_path.exists() {
            serde_json::from_value(read_json(&extras_path)).unwrap()
        } else {
            JobExtras::default()
        };
        let result = to_legacy_status(&v3, &extras, tz_of(&case));
        let checked = match (result, case.join("expected_error.json").exists()) {
            (Ok(data), false) => check(&case, "expected.json", &data.into_tree()),
            (Err(e), true) => check(
                &case,
                "expected_error.json",
                &json!({"reason": e.reason.as_str(), "field": e.field}),
            ),
            (Ok(data), true) => Err(format!("{}: expected an error, got {data}", case.display())),
            (Err(e), false) => Err(format!("{}: unexpected error: {e}", case.display())),
        };
        if let Err(report) = checked {
            failures.push(report);
        }
    }
    finish(failures);
}

#[test]
fn log_golden_cases() {
    let mut failures = Vec::new();
    for case in fixtures("log") {
        let status = data_of(&read_json(&case.join("status.json")));
        let batches = log_batches(&status);
        let batches_json = serde_json::to_value(&batches).unwrap();
        if let Err(report) = check(&case, "expected_batches.json", &batches_json) {
            failures.push(report);
        }
        let logs: Vec<Value> = match read_json(&case.join("logs.json")) {
            Value::Array(items) => items.iter().map(data_of).collect(),
            other => panic!(
                "{}: logs.json must be an array, got {other}",
                case.display()
            ),
        };
        match to_legacy_log(&status, &logs, tz_of(&case)) {
            Ok(data) => {
                if let Err(report) = check(&case, "expected.json", &data.into_tree()) {
                    failures.push(report);
                }
            }
            Err(e) => failures.push(format!("{}: unexpected error: {e}", case.display())),
        }
    }
    finish(failures);
}

// === more than 500 hosts, generated ===

/// A finished one-step job over `ids.len()` hosts; hosts with id `0` carry only cloud + ip.
fn big_status(ids: &[i64]) -> Value {
    let hosts: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(n, &id)| {
            let failed = n % 7 == 3;
            let mut h = json!({
                "ip": format!("10.{}.{}.{}", n / 65536, (n / 256) % 256, n % 256),
                "bk_cloud_id": n % 2,
                "status": if failed { 104 } else { 9 },
                "tag": if n % 3 == 0 { "even" } else { "" },
                "exit_code": if failed { 1 } else { 0 },
                "error_code": 0,
                "start_time": 1_700_000_000_000_i64,
                "end_time": 1_700_000_002_000_i64,
                "total_time": 2000,
            });
            if id > 0 {
                h["bk_host_id"] = json!(id);
            }
            h
        })
        .collect();
    json!({
        "finished": true,
        "job_instance": {"job_instance_id": 3001, "bk_scope_type": "biz", "bk_scope_id": "5",
                         "bk_biz_id": 5, "name": "big", "status": 4,
                         "create_time": 1_700_000_000_000_i64, "start_time": 1_700_000_000_000_i64,
                         "end_time": 1_700_000_002_000_i64, "total_time": 2000},
        "step_instance_list": [{
            "step_instance_id": 4001, "name": "run", "type": 1, "status": 4, "execute_count": 0,
            "create_time": 1_700_000_000_000_i64, "start_time": 1_700_000_000_000_i64,
            "end_time": 1_700_000_002_000_i64, "total_time": 2000,
            "step_ip_result_list": hosts,
        }],
    })
}

/// The batch answer bk-job would give for `batch`: every host's log names the host.
fn answer(status: &Value, batch: &LogBatch) -> Value {
    let hosts = status["step_instance_list"][0]["step_ip_result_list"]
        .as_array()
        .unwrap();
    let wanted = |h: &Value| match (batch.body.get("host_id_list"), batch.body.get("ip_list")) {
        (Some(ids), _) => ids.as_array().unwrap().contains(&h["bk_host_id"]),
        (None, Some(ips)) => ips
            .as_array()
            .unwrap()
            .contains(&json!({"bk_cloud_id": h["bk_cloud_id"], "ip": h["ip"]})),
        (None, None) => false,
    };
    let logs: Vec<Value> = hosts
        .iter()
        .filter(|h| wanted(h))
        .map(|h| {
            json!({"host_id": h.get("bk_host_id"), "bk_host_id": h.get("bk_host_id"),
                   "bk_cloud_id": h["bk_cloud_id"], "ip": h["ip"],
                   "log_content": format!("<{}> & done\n", h["ip"].as_str().unwrap())})
        })
        .collect();
    json!({"job_instance_id": 3001, "step_instance_id": batch.step_instance_id, "log_type": 1,
           "script_task_logs": logs})
}

#[test]
fn hosts_over_500_take_three_batches() {
    let ids: Vec<i64> = (1..=1203).map(|i| 70_000 + i).collect();
    let status = big_status(&ids);
    let batches = log_batches(&status);
    assert_eq!(batches.len(), 3);
    let lists: Vec<Vec<i64>> = batches
        .iter()
        .map(|b| {
            assert_eq!(b.step_instance_id, 4001);
            assert_eq!(b.body["bk_scope_type"], "biz");
            assert_eq!(b.body["bk_scope_id"], "5");
            assert_eq!(b.body["job_instance_id"], 3001);
            assert_eq!(b.body["step_instance_id"], 4001);
            assert!(b.body.get("ip_list").is_none());
            b.body["host_id_list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        lists.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![500, 500, 203]
    );
    assert!(lists.iter().all(|l| l.len() <= MAX_HOSTS_PER_BATCH));
    assert_eq!(lists.concat(), ids, "every host once, in order");

    let logs: Vec<Value> = batches.iter().map(|b| answer(&status, b)).collect();
    let legacy = to_legacy_log(&status, &logs, chrono_tz::Asia::Shanghai)
        .unwrap()
        .into_tree();
    let results = legacy[0]["step_results"].as_array().unwrap();
    let keys: Vec<(i64, &str)> = results
        .iter()
        .map(|r| (r["ip_status"].as_i64().unwrap(), r["tag"].as_str().unwrap()))
        .collect();
    assert_eq!(keys, vec![(9, ""), (9, "even"), (104, ""), (104, "even")]);
    let mut seen = 0;
    for r in results {
        for l in r["ip_logs"].as_array().unwrap() {
            let ip = l["ip"].as_str().unwrap();
            assert_eq!(l["log_content"], format!("&lt;{ip}&gt; &amp; done\n"));
            assert_eq!(l["start_time"], "2023-11-15 06:13:20");
            assert_eq!(l["total_time"], 2.0);
            seen += 1;
        }
    }
    assert_eq!(seen, 1203);
}

#[test]
fn hosts_without_ids_are_asked_by_ip_in_their_own_batches() {
    // 1,203 hosts, every 100th without a bk_host_id: 1,191 by id, 12 by ip.
    let ids: Vec<i64> = (1..=1203)
        .map(|i| if i % 100 == 0 { 0 } else { 70_000 + i })
        .collect();
    let status = big_status(&ids);
    let batches = log_batches(&status);
    let shape: Vec<(&str, usize)> = batches
        .iter()
        .map(
            |b| match (b.body.get("host_id_list"), b.body.get("ip_list")) {
                (Some(l), None) => ("host_id_list", l.as_array().unwrap().len()),
                (None, Some(l)) => ("ip_list", l.as_array().unwrap().len()),
                _ => panic!("bad batch {b:?}"),
            },
        )
        .collect();
    assert_eq!(
        shape,
        vec![
            ("host_id_list", 500),
            ("host_id_list", 500),
            ("host_id_list", 191),
            ("ip_list", 12)
        ]
    );
    let logs: Vec<Value> = batches.iter().map(|b| answer(&status, b)).collect();
    let legacy = to_legacy_log(&status, &logs, chrono_tz::UTC)
        .unwrap()
        .into_tree();
    let empty = legacy[0]["step_results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["ip_logs"].as_array().unwrap())
        .filter(|l| l["log_content"] == "")
        .count();
    assert_eq!(empty, 0, "every host, by id or by ip, got its log");
}
