#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Cost of the pure request translation (DESIGN §7: linear in body size, a 5,000-host
//! `ip_list` in under 2 ms).
//!
//! `cargo bench --bench translate -- --warm-up-time 1 --measurement-time 3`
//!
//! Two groups per route: `translate` (parsed legacy map → `Translated`, the clone of the
//! input excluded) and `end_to_end` (request bytes → parse → translate → v3 body bytes);
//! and `end_to_end_fast/execute_job`, the same with the hosts in `global_vars[].ip_list`,
//! which the serving path reads without a tree (`translate::fast`).
//! After criterion, a short manual timing prints the per-host cost at each size and the
//! marginal per-host cost between sizes, so linear growth can be read directly.
//! The bench allocates with the binary's allocator (jemalloc, with the default features).

use bk_job_shim::budget::Budget;
use bk_job_shim::translate::fast::execute_job_params;
use bk_job_shim::translate::{
    JsonBody, Options, Route, parse_body, translate_request, translate_typed,
};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use serde_json::{Map, Value, json};
use std::hint::black_box;
use std::time::{Duration, Instant};

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const SIZES: [usize; 3] = [10, 1_000, 5_000];

fn hosts(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "bk_cloud_id": i % 3,
                "ip": format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
            })
        })
        .collect()
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// Legacy `execute_job` (doc B style): one host variable with `n` hosts, one string var.
fn execute_job_body(n: usize) -> Map<String, Value> {
    object(json!({
        "bk_app_code": "esb_test", "bk_app_secret": "xxx", "bk_username": "admin",
        "bk_biz_id": 2, "bk_job_id": 100,
        "bk_callback_url": "http://callback.example.com/done",
        "global_vars": [
            {"id": 436, "target_server": {"ip_list": hosts(n), "dynamic_group_id_list": ["2:g1"]}},
            {"id": 437, "value": "new String value"},
        ],
    }))
}

/// Legacy `fast_execute_script` with `n` target hosts.
fn fast_execute_script_body(n: usize) -> Map<String, Value> {
    object(json!({
        "bk_app_code": "esb_test", "bk_app_secret": "xxx", "bk_username": "admin",
        "bk_biz_id": 2, "script_content": "IyEvYmluL2Jhc2gKZWNobyAiaGVsbG8gJDEiCg==",
        "script_type": 1, "script_param": "aGVsbG8=", "script_timeout": 600,
        "account": "root", "task_name": "bench", "ip_list": hosts(n),
    }))
}

type Case = (&'static str, Route, fn(usize) -> Map<String, Value>);

fn cases() -> [Case; 2] {
    [
        ("execute_job", Route::ExecuteJob, execute_job_body),
        (
            "fast_execute_script",
            Route::FastExecuteScript,
            fast_execute_script_body,
        ),
    ]
}

fn benches(c: &mut Criterion) {
    let opts = Options::default();
    for (name, route, make) in cases() {
        let mut group = c.benchmark_group(format!("translate/{name}"));
        for n in SIZES {
            let body = make(n);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::from_parameter(n), &body, |b, body| {
                b.iter_batched(
                    || body.clone(),
                    |body| translate_request(&route, body, &opts).unwrap(),
                    BatchSize::LargeInput,
                );
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("end_to_end/{name}"));
        for n in SIZES {
            let bytes = serde_json::to_vec(&Value::Object(make(n))).unwrap();
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            group.bench_with_input(BenchmarkId::from_parameter(n), &bytes, |b, bytes| {
                b.iter(|| {
                    let body = parse_body(black_box(bytes)).unwrap();
                    let t = translate_request(&route, body, &opts).unwrap();
                    t.request.body.map(JsonBody::into_bytes)
                });
            });
        }
        group.finish();
    }
    fast_end_to_end(c);
}

/// `execute_job` with its hosts in the plain form (`global_vars[].ip_list`), read by the
/// serving path's fast reading (`translate::fast`: no tree for `global_vars`).
fn fast_end_to_end(c: &mut Criterion) {
    let opts = Options::default();
    let budget = Budget::default();
    let mut group = c.benchmark_group("end_to_end_fast/execute_job");
    for n in SIZES {
        let mut body = execute_job_body(n);
        body["global_vars"][0] = json!({"id": 436, "ip_list": hosts(n)});
        let bytes = serde_json::to_vec(&Value::Object(body)).unwrap();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &bytes, |b, bytes| {
            b.iter(|| {
                let (params, typed) = execute_job_params(black_box(bytes), &budget).unwrap();
                let t = translate_typed(&Route::ExecuteJob, params, typed, &opts).unwrap();
                t.request.body.map(JsonBody::into_bytes)
            });
        });
    }
    group.finish();
}

/// Mean time of one translation of `make(n)`, best of five rounds. Each call gets a
/// fresh clone made just before it (outside the clock), so the input is warm in cache as
/// a body the proxy has just parsed would be.
fn time_per_request(route: &Route, make: fn(usize) -> Map<String, Value>, n: usize) -> Duration {
    let opts = Options::default();
    let template = make(n);
    let iters = (400_000 / n).clamp(20, 20_000);
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let body = template.clone();
            let start = Instant::now();
            let out = translate_request(route, black_box(body), &opts).unwrap();
            total += start.elapsed();
            drop(black_box(out));
        }
        best = best.min(total / u32::try_from(iters).unwrap());
    }
    best
}

fn per_host_report() {
    println!("\nper-host cost of translate_request (timed per call on a warm input, best of 5):");
    println!(
        "{:<22}{:>7}{:>14}{:>13}{:>16}",
        "route", "hosts", "per request", "per host", "vs 1000-host"
    );
    for (name, route, make) in cases() {
        let times: Vec<(usize, Duration)> = SIZES
            .iter()
            .map(|&n| (n, time_per_request(&route, make, n)))
            .collect();
        let per_host = |n: usize, t: Duration| t.as_nanos() as f64 / n as f64;
        let base = times
            .iter()
            .find(|(n, _)| *n == 1_000)
            .map(|(n, t)| per_host(*n, *t))
            .unwrap_or(1.0);
        for (n, t) in &times {
            let ph = per_host(*n, *t);
            println!(
                "{name:<22}{n:>7}{:>11.1} µs{:>10.1} ns{:>15.2}x",
                t.as_nanos() as f64 / 1_000.0,
                ph,
                ph / base
            );
        }
        if let [(n0, t0), (n1, t1), (n2, t2)] = times[..] {
            let marginal = |a: (usize, Duration), b: (usize, Duration)| {
                (b.1.as_nanos() as f64 - a.1.as_nanos() as f64) / (b.0 - a.0) as f64
            };
            let m1 = marginal((n0, t0), (n1, t1));
            let m2 = marginal((n1, t1), (n2, t2));
            println!(
                "{name:<22}marginal ns/host {n0}->{n1}: {m1:.1}, {n1}->{n2}: {m2:.1} (ratio {:.2}; 1.00 = linear)",
                m2 / m1
            );
        }
    }
}

fn main() {
    let test_mode = std::env::args().any(|a| a == "--test" || a == "--list");
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
    if !test_mode {
        per_host_report();
    }
}
