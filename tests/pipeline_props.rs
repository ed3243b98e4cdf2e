//! Property test of the whole pipeline, called in process through the tower stack
//! (`stack::build(settings).oneshot(request)`, no port bound, built-in stub upstream):
//! whatever the method, path, headers and body, the shim answers a well-formed legacy
//! envelope and never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use bk_job_shim::config::Settings;
use bk_job_shim::stack::{self, ApiService};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

const PATHS: &[&str] = &[
    "/api/c/compapi/v2/job/execute_job/",
    "/api/c/compapi/v2/job/fast_execute_script/",
    "/api/c/compapi/job/fast_push_file",
    "/api/c/compapi/v2/job/get_job_instance_status/",
    "/api/c/compapi/v2/job/get_job_instance_log/",
    "/api/c/compapi/v2/jobv3/execute_job_plan/",
    "/api/c/compapi/v2/jobv3/fast_execute_script/",
    "/api/c/compapi/v2/jobv3/get_job_instance_ip_log/",
    "/api/c/compapi/v2/jobv3/get_something_new/",
    "/api/c/compapi/v2/job/unknown/",
    "/",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "[a-z0-9 ._:/<>&-]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("10.0.0.1"),
            Just("ZWNobyAx"),
            Just("biz_set"),
            Just("256.1.1.1")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("bk_biz_id".to_owned()),
                    Just("bk_job_id".to_owned()),
                    Just("job_instance_id".to_owned()),
                    Just("global_vars".to_owned()),
                    Just("ip_list".to_owned()),
                    Just("target_server".to_owned()),
                    Just("script_content".to_owned()),
                    Just("script_id".to_owned()),
                    Just("steps".to_owned()),
                    Just("bk_app_code".to_owned()),
                    Just("bk_app_secret".to_owned()),
                    "[a-z_]{1,10}",
                ],
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|mut v| {
            if let Value::Object(m) = &mut v {
                m.insert("bk_app_code".into(), json!("prop"));
                m.insert("bk_app_secret".into(), json!("SECRET-VALUE"));
                m.insert("bk_token".into(), json!("TOKEN-VALUE"));
            }
            serde_json::to_vec(&v).unwrap()
        }),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn any_request_gets_a_legacy_envelope(
        path in prop::sample::select(PATHS),
        query in "[a-z_=&%0-9]{0,24}",
        get in any::<bool>(),
        auth_header in prop::option::of(prop_oneof![Just(r#"{"bk_app_code":"h","bk_token":"TOKEN-VALUE"}"#.to_owned()), "[ -~]{0,16}"]),
        body in body(),
    ) {
        let rt = runtime();
        let (status, out) = rt.block_on(async {
            let mut req = Request::new(Full::new(Bytes::from(body)));
            *req.method_mut() = if get { http::Method::GET } else { http::Method::POST };
            *req.uri_mut() = format!("{path}?{query}").parse().unwrap();
            req.headers_mut().insert("content-type", "application/json".parse().unwrap());
            req.headers_mut().insert("host", "shim".parse().unwrap());
            if let Some(h) = auth_header {
                if let Ok(v) = h.parse() {
                    req.headers_mut().insert("x-bkapi-authorization", v);
                }
            }
            let resp = shim().await.oneshot(req).await.unwrap_or_else(|e| match e {});
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, bytes)
        });
        prop_assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&out).unwrap();
        prop_assert!(v["result"].is_boolean());
        prop_assert!(v["code"].is_i64());
        prop_assert!(v["request_id"].as_str().is_some_and(|s| !s.is_empty()));
        prop_assert!(v["message"].is_string());
        let text = String::from_utf8_lossy(&out);
        prop_assert!(!text.contains("SECRET-VALUE") && !text.contains("TOKEN-VALUE"), "{}", text);
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

async fn shim() -> ApiService<Full<Bytes>> {
    static SHIM: tokio::sync::OnceCell<ApiService<Full<Bytes>>> =
        tokio::sync::OnceCell::const_new();
    SHIM.get_or_init(|| async {
        let mut cfg = harness::test_config("stub");
        cfg.rate_limit.rates.insert(
            "__default".into(),
            vec![bk_job_shim::ratelimit::Rate {
                period: 1,
                tokens: 1_000_000,
            }],
        );
        let settings = Settings::new(cfg).unwrap();
        stack::build(&settings).await.unwrap()
    })
    .await
    .clone()
}
