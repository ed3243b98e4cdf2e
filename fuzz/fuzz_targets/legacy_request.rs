//! Legacy body parse + translation of every route.
//!
//! Input: `<path>\n<body>`. A path the shim does not serve picks one of the served
//! routes instead, so every input exercises a translation. Checked: no panic, a
//! translated request never carries a credential in its body or query, and where the
//! fast reading of a body applies (`translate::fast`, by hand or through serde's typed
//! models) it translates the body exactly as the general reading does.
#![no_main]

use bk_job_shim::translate::credentials::CREDENTIAL_KEYS;
use bk_job_shim::translate::{self, Options, Route, StepsPolicy};
use libfuzzer_sys::fuzz_target;

const PATHS: [&str; 9] = [
    "/api/c/compapi/v2/job/execute_job/",
    "/api/c/compapi/v2/job/fast_execute_script/",
    "/api/c/compapi/v2/job/fast_push_file/",
    "/api/c/compapi/v2/job/get_job_instance_status/",
    "/api/c/compapi/v2/job/get_job_instance_log/",
    "/api/c/compapi/v2/jobv3/execute_job_plan/",
    "/api/c/compapi/v2/jobv3/fast_execute_script/",
    "/api/c/compapi/v2/jobv3/get_job_instance_list/",
    "/api/c/compapi/v2/jobv3/some_newer_resource/",
];

fn route(path: &[u8]) -> Route {
    std::str::from_utf8(path)
        .ok()
        .and_then(Route::from_path)
        .or_else(|| Route::from_path(PATHS[path.len() % PATHS.len()]))
        .unwrap_or(Route::ExecuteJob)
}

fuzz_target!(|data: &[u8]| {
    let (path, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b""[..], data),
    };
    let route = route(path);
    let _ = route.name();
    let _ = route.is_query();
    // The budgeted parse agrees with serde_json on what is JSON, and builds the same tree.
    let budgeted = bk_job_shim::budget::parse(body, &bk_job_shim::budget::Budget::default());
    let plain = serde_json::from_slice::<serde_json::Value>(body);
    match (&budgeted, &plain) {
        (Err(bk_job_shim::budget::ParseError::Json(_)), p) => assert!(p.is_err()),
        (Ok(v), p) => assert_eq!(p.as_ref().ok(), Some(v)),
        (Err(bk_job_shim::budget::ParseError::Budget(_)), _) => {}
    }
    let parsed = translate::parse_body(body);
    let fast = translate::fast::params(&route, body, &bk_job_shim::budget::Budget::default());
    let Ok(map) = parsed else {
        assert!(fast.is_none(), "read fast, refused by the general reading");
        return;
    };
    if let Some((params, typed)) = fast {
        let opts = Options::default();
        let outcome = |r: Result<translate::Translated, translate::TranslateError>| {
            r.map(|t| (t.request, t.credentials, t.steps_dropped))
        };
        assert_eq!(
            outcome(translate::translate_typed(&route, params, typed, &opts)),
            outcome(translate::translate_request(&route, map.clone(), &opts)),
            "the fast reading translates differently"
        );
    }
    for steps in [StepsPolicy::Reject, StepsPolicy::Ignore] {
        let opts = Options {
            steps,
            ..Options::default()
        };
        let Ok(t) = translate::translate_request(&route, map.clone(), &opts) else {
            continue;
        };
        let _ = t.request.path();
        let _ = t.request.query_string();
        for (k, _) in &t.request.query {
            assert!(
                !CREDENTIAL_KEYS.contains(&k.as_str()),
                "credential in query: {k}"
            );
        }
        let body = t.request.body.as_ref().map(translate::JsonBody::to_value);
        if let Some(serde_json::Value::Object(b)) = &body {
            for k in CREDENTIAL_KEYS {
                assert!(!b.contains_key(k), "credential in body: {k}");
            }
        }
        let _ = t.credentials.check_limits();
        let _ = serde_json::to_vec(&t.request.body);
    }
});
