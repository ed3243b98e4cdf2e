//! The real ESB client of BlueKing apps, `bkapi-component-open` (PyPI), unchanged, against
//! the shim: `tests/esb_client/drive_jobv3.py` calls every operation of its
//! `Client.jobv3` group through a shim pointed at a recording gateway, and every one must
//! reach the gateway once, at `/api/v3/<name>`, with the method the gateway publishes it
//! with (`spec/legacy-api-surface.md` §5) — whatever method the client used.
//!
//! The Python environment is `target/esb-client-venv`, made by `tests/esb_client/setup.sh`
//! (`.ci/run` runs it first; this test runs it too, which is a no-op once installed);
//! `BK_JOB_SHIM_ESB_PYTHON` names another interpreter that has the package.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use harness::*;
use serde_json::{Value, json};
use std::path::PathBuf;

/// The `jobv3` names the gateway publishes as GET (§5); every other is a POST.
const GATEWAY_GET: &[&str] = &[
    "get_job_instance_status",
    "get_job_instance_ip_log",
    "get_job_instance_list",
    "get_job_instance_global_var_value",
    "get_job_template_list",
    "get_job_plan_list",
    "get_job_plan_detail",
    "get_account_list",
    "get_public_script_list",
    "get_public_script_version_list",
    "get_public_script_version_detail",
    "get_script_list",
    "get_script_version_list",
    "get_script_version_detail",
    "get_cron_list",
    "get_cron_detail",
    "get_latest_service_version",
    // A document, GET on the gateway; the client POSTs it.
    "callback_protocol",
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/esb_client")
}

/// The interpreter with `bkapi-component-open` installed.
async fn python() -> String {
    if let Ok(p) = std::env::var("BK_JOB_SHIM_ESB_PYTHON") {
        return p;
    }
    let out = tokio::process::Command::new("bash")
        .arg(dir().join("setup.sh"))
        .output()
        .await
        .expect("bash runs");
    assert!(
        out.status.success(),
        "tests/esb_client/setup.sh failed (it needs python3 with venv and pip, and PyPI):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout.lines().last().unwrap().trim().to_owned()
}

#[tokio::test]
async fn every_jobv3_operation_of_the_real_client_reaches_the_gateway_with_its_method() {
    let python = python().await;
    let mock = MockUpstream::start(Behavior::ok(json!({}))).await;
    let shim = start_shim(test_config(&mock.url())).await;

    let out = tokio::process::Command::new(&python)
        .arg(dir().join("drive_jobv3.py"))
        .arg(format!("http://{}", shim.addr))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (summary, ops) = lines.split_last().unwrap();
    assert_eq!(summary["failed"], 0, "{stdout}");
    // Every operation the package exposes for JOB (51 in 2.1.0).
    assert!(ops.len() >= 51, "{stdout}");
    assert_eq!(summary["done"], ops.len());

    let recorded = mock.requests();
    assert_eq!(recorded.len(), ops.len(), "one gateway call per operation");
    for op in ops {
        let name = op["operation"].as_str().unwrap();
        assert_eq!(op["code"], 0, "{op}");
        assert_eq!(op["result"], true, "{op}");
        // The client's own method: GET for its queries.
        if name.starts_with("get_") && name != "get_dangerous_rule_list" {
            assert_eq!(op["method"], "GET", "{op}");
        }
        let path = format!("/api/bk-job/prod/api/v3/{name}");
        let hits: Vec<&Recorded> = recorded.iter().filter(|r| r.path == path).collect();
        assert_eq!(hits.len(), 1, "{name}: {recorded:?}");
        let r = hits[0];
        let want = if GATEWAY_GET.contains(&name) {
            "GET"
        } else {
            "POST"
        };
        assert_eq!(r.method, want, "{name}");
        let auth: Value =
            serde_json::from_str(&r.header("x-bkapi-authorization").unwrap()).unwrap();
        assert_eq!(auth["bk_app_code"], "esb-app", "{name}");
        if want == "GET" {
            let q = r.query.clone().unwrap_or_default();
            assert!(q.contains("bk_scope_id=2"), "{name}: {q}");
            assert!(r.body.is_empty(), "{name}");
        } else {
            assert_eq!(r.json()["bk_scope_id"], "2", "{name}");
        }
    }
    shim.shutdown().await;
}
