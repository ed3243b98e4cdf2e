//! `bk-job-shim translate` prints the first upstream request of every legacy call that is an
//! exchange (checked against the golden fixtures' first recorded request), and the legacy
//! error of every call JOB v3 has no equivalent for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bk_job_shim::translate::calls::unavailable::UNAVAILABLE;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn run_translate(path: &str, body: &str) -> (i32, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bk-job-shim"))
        .args(["translate", "--path", path])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

fn read(path: &PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn translate_prints_the_first_request_of_every_call() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/calls");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let case = entry.unwrap().path();
        let legacy = read(&case.join("legacy.json"));
        let call = legacy["call"].as_str().unwrap();
        if legacy.get("options").is_some() {
            continue;
        }
        let path = format!("/api/c/compapi/v2/job/{call}/");
        let (code, out) = run_translate(&path, &legacy["body"].to_string());
        let first = &read(&case.join("exchange.json"))[0]["request"];
        if first.is_null() {
            assert_eq!(code, 1, "{}", case.display());
            assert_eq!(out["code"], 1306406, "{}", case.display());
            continue;
        }
        assert_eq!(code, 0, "{}: {out}", case.display());
        let resource = first["resource"].as_str().unwrap();
        assert_eq!(
            out["path"],
            format!("/api/v3/{resource}"),
            "{}",
            case.display()
        );
        assert_eq!(out["method"], first["method"], "{}", case.display());
        assert_eq!(out["body"], first["body"], "{}", case.display());
        checked += 1;
    }
    assert!(checked >= 16, "{checked}");
}

#[test]
fn translate_explains_calls_without_an_equivalent() {
    for u in UNAVAILABLE {
        let (code, out) = run_translate(&format!("/api/c/compapi/v2/job/{}/", u.name), "{}");
        assert_eq!(code, 1, "{}", u.name);
        assert_eq!(out["result"], false);
        let msg = out["message"].as_str().unwrap_or_default();
        assert!(msg.contains("has no equivalent in JOB v3"), "{msg}");
    }
    let (code, out) = run_translate("/api/c/compapi/v2/job/no_such_call/", "{}");
    assert_eq!((code, out["code"].clone()), (1, Value::from(1306404)));
}
