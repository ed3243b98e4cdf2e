// These tests drive the built-in emulator (cargo feature `stub`, on by default).
#![cfg(feature = "stub")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Golden tests of the legacy calls that are exchanges: legacy request → v3 calls → legacy
//! reply, with no server.
//!
//! Every directory `tests/fixtures/calls/<case>/` holds:
//! * `legacy.json`: `{"call": "<legacy job/ name>", "body": {...}}`, optionally
//!   `"options": {"max_rows", "page_len"}` and, used only when fixtures are rewritten,
//!   `"setup"` (v3 calls made first, e.g. to start a job) and `"advance_ms"`;
//! * `exchange.json`: every v3 request the exchange emits, in order, with the reply fed
//!   back (`{"request": {method, resource, query, body}, "reply": <EsbResp>}`);
//! * `expected.json`: the outcome: `{"data", "warnings"}`, `{"pass_on": <EsbResp>}` or
//!   `{"error": {"code", "message"}}`.
//!
//! The test drives the exchange with the recorded replies and checks both the requests it
//! emits and its outcome. `UPDATE_FIXTURES=1 cargo test --test translate_calls` records the
//! replies afresh from the built-in emulator (frozen clock) and rewrites both files; review
//! every change by hand against `spec/legacy-api-surface.md` §3 before keeping it.

use bk_job_shim::stub::{StubGateway, StubOptions};
use bk_job_shim::translate::calls::{self, CallOptions, LegacyCall};
use bk_job_shim::translate::envelope::EsbResp;
use bk_job_shim::translate::exchange::{Exchange, Outcome, Step};
use bk_job_shim::translate::polling::{LogExchange, StatusExchange};
use bk_job_shim::translate::{JsonBody, UpstreamRequest, parse_body};
use bytes::Bytes;
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

const START_MS: u64 = 1_700_000_000_000;
const AUTH: &str =
    r#"{"bk_app_code":"golden","bk_app_secret":"s","bk_token":"t","bk_username":"admin"}"#;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/calls")
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write_json(path: &Path, v: &Value) {
    let text = serde_json::to_string_pretty(v).unwrap() + "\n";
    fs::write(path, text).unwrap();
}

fn options(legacy: &Value) -> CallOptions {
    let mut o = CallOptions::default();
    if let Some(n) = legacy["options"]["max_rows"].as_u64() {
        o.max_rows = n as usize;
    }
    if let Some(n) = legacy["options"]["page_len"].as_u64() {
        o.page_len = n as usize;
    }
    o
}

/// The exchange of a case, or the parameter error of its body.
fn exchange(legacy: &Value) -> Result<Box<dyn Exchange>, Value> {
    let name = legacy["call"].as_str().expect("legacy.json: call");
    let body = parse_body(legacy["body"].to_string().as_bytes()).unwrap();
    let opts = options(legacy);
    let err = |e: bk_job_shim::translate::TranslateError| json!({"code": 1306406, "message": e.message()});
    match name {
        "get_job_instance_status" => StatusExchange::new(&body, opts.tz)
            .map(|e| Box::new(e) as Box<dyn Exchange>)
            .map_err(err),
        "get_job_instance_log" => LogExchange::new(&body, opts.tz)
            .map(|e| Box::new(e) as Box<dyn Exchange>)
            .map_err(err),
        other => {
            let call =
                LegacyCall::from_name(other).unwrap_or_else(|| panic!("unknown call {other}"));
            calls::exchange(call, body, &opts).map_err(err)
        }
    }
}

fn request_json(r: &UpstreamRequest) -> Value {
    json!({"method": r.method, "resource": r.resource, "query": r.query, "body": r.body})
}

fn outcome_of(reply: &Value) -> Outcome {
    match EsbResp::parse(reply.clone()) {
        Some(r) => Outcome::Reply(r),
        None => Outcome::Failed { definitive: true },
    }
}

fn final_json(step: Step) -> Value {
    match step {
        Step::Done(f) => json!({"data": f.data, "warnings": f.warnings}),
        Step::PassOn(r) => json!({"pass_on": {"code": r.code, "message": r.message}}),
        Step::Fail(e) => json!({"error": {"code": e.code(), "message": e.message()}}),
        Step::Abort => json!({"abort": true}),
        Step::Call(_) => unreachable!(),
    }
}

/// The emulator's answer to one v3 request (job_request_id dropped: it is random).
fn emulate(stub: &StubGateway, r: &UpstreamRequest) -> Value {
    let mut uri = r.path();
    if !r.query.is_empty() {
        uri = format!("{uri}?{}", r.query_string());
    }
    let body = r.body.as_ref().map(JsonBody::to_string).unwrap_or_default();
    let req = http::Request::builder()
        .method(r.method.as_str())
        .uri(uri)
        .header("x-bkapi-authorization", AUTH)
        .body(Bytes::from(body))
        .unwrap();
    let resp = stub.handle(req);
    let mut v: Value = serde_json::from_slice(resp.body()).unwrap();
    if let Some(o) = v.as_object_mut() {
        o.remove("job_request_id");
    }
    v
}

/// Record a case afresh against the emulator.
fn record(dir: &Path, legacy: &Value) {
    let stub = StubGateway::with_start_time(StubOptions::default(), START_MS);
    for s in legacy["setup"].as_array().into_iter().flatten() {
        let req = UpstreamRequest {
            method: bk_job_shim::translate::Method::Post,
            resource: s["resource"].as_str().unwrap().to_owned(),
            query: vec![],
            body: Some(JsonBody::of_value(&s["body"])),
            warnings: vec![],
        };
        let reply = emulate(&stub, &req);
        assert_eq!(reply["code"], 0, "{}: setup failed: {reply}", dir.display());
    }
    stub.advance_clock(Duration::from_millis(
        legacy["advance_ms"].as_u64().unwrap_or(10_000),
    ));
    let mut log = Vec::new();
    let step = match exchange(legacy) {
        Err(e) => json!({"error": e}),
        Ok(mut ex) => {
            let mut step = ex.start();
            while let Step::Call(req) = step {
                let reply = emulate(&stub, &req);
                log.push(json!({"request": request_json(&req), "reply": reply}));
                step = ex.resume(outcome_of(&reply));
            }
            final_json(step)
        }
    };
    write_json(&dir.join("exchange.json"), &Value::Array(log));
    write_json(&dir.join("expected.json"), &step);
}

/// Replay a case from its recorded replies.
fn replay(dir: &Path, legacy: &Value) {
    let recorded = read_json(&dir.join("exchange.json"));
    let recorded = recorded.as_array().cloned().unwrap_or_default();
    let expected = read_json(&dir.join("expected.json"));
    let mut ex = match exchange(legacy) {
        Err(e) => {
            assert_eq!(json!({"error": e}), expected, "{}", dir.display());
            assert!(recorded.is_empty());
            return;
        }
        Ok(ex) => ex,
    };
    let mut step = ex.start();
    let mut i = 0;
    while let Step::Call(req) = step {
        let entry = recorded.get(i).unwrap_or_else(|| {
            panic!(
                "{}: unexpected request {i}: {}",
                dir.display(),
                request_json(&req)
            )
        });
        assert_eq!(
            request_json(&req),
            entry["request"],
            "{}: request {i}",
            dir.display()
        );
        step = ex.resume(outcome_of(&entry["reply"]));
        i += 1;
    }
    assert_eq!(
        i,
        recorded.len(),
        "{}: fewer requests than recorded",
        dir.display()
    );
    assert_eq!(final_json(step), expected, "{}", dir.display());
}

#[test]
fn every_call_fixture() {
    let update = std::env::var_os("UPDATE_FIXTURES").is_some();
    let mut cases: Vec<PathBuf> = fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let mut names = std::collections::BTreeSet::new();
    for dir in &cases {
        let legacy = read_json(&dir.join("legacy.json"));
        names.insert(legacy["call"].as_str().unwrap_or_default().to_owned());
        if update {
            record(dir, &legacy);
        }
        replay(dir, &legacy);
    }
    for call in LegacyCall::ALL {
        assert!(
            names.contains(call.name()),
            "no fixture for job/{}",
            call.name()
        );
    }
}

#[test]
fn fixtures_cover_a_multi_page_list_and_a_cited_script() {
    let dir = fixtures_dir();
    let pages = read_json(&dir.join("get_job_list_multi_page/exchange.json"));
    assert!(pages.as_array().is_some_and(|p| p.len() > 1));
    let detail = read_json(&dir.join("get_job_detail_cited_script/exchange.json"));
    let resources: Vec<&str> = detail
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["request"]["resource"].as_str())
        .collect();
    assert!(
        resources.contains(&"get_script_version_detail"),
        "{resources:?}"
    );
}
