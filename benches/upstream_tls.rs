//! HTTPS upstream cost, in-process: the shim's pooled upstream client (the real connector
//! from `bk_job_shim::tls`) against the same small gateway over plain HTTP, HTTPS with
//! HTTP/1.1 and HTTPS with h2, measured in the same run. Also the cost of a TLS handshake
//! per request (pool off), resumed (shared session cache) and full (fresh cache), which
//! the pool amortises away.
//!
//!   cargo bench --bench upstream_tls [-- REQUESTS]
//!
//! Prints figures and ratios to the plain-HTTP baseline; asserts nothing (shared machine).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/tls.rs"]
mod tls_support;

use bk_job_shim::tls::{
    ConnectorSettings, Http2Mode, HttpsConnector, UpstreamTls, https_connector,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::{Duration, Instant};
use tls_support::{GatewayOptions, Pki, TlsGateway};

type UpClient = Client<HttpsConnector, Full<Bytes>>;

fn client(ca: &std::path::Path, http2: Http2Mode, idle: usize, https: bool) -> UpClient {
    let s = ConnectorSettings {
        tls: UpstreamTls {
            ca_file: Some(ca.to_owned()),
            ..UpstreamTls::default()
        },
        http2,
        connect_timeout: Duration::from_secs(3),
        ..ConnectorSettings::default()
    };
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(idle)
        .build(https_connector(&s, https).unwrap())
}

async fn one(c: &UpClient, url: &str) {
    let resp = c.get(url.parse().unwrap()).await.unwrap();
    assert!(resp.status().is_success());
    resp.into_body().collect().await.unwrap();
}

/// Mean µs per request, one at a time.
async fn sequential(c: &UpClient, url: &str, n: usize) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        one(c, url).await;
    }
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// Requests per second with `tasks` concurrent callers sharing the pool.
async fn concurrent(c: &UpClient, url: &str, n: usize, tasks: usize) -> f64 {
    let t = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (c, url) = (c.clone(), url.to_owned());
            tokio::spawn(async move {
                for _ in 0..n / tasks {
                    one(&c, &url).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    (n / tasks * tasks) as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(4000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(n));
}

async fn run(n: usize) {
    let pki = Pki::new("bench");
    let ca = pki.ca_file();
    let plain = TlsGateway::start_plain().await;
    let h1 = TlsGateway::start(GatewayOptions {
        cert: pki.server(&["localhost"]),
        client_ca: None,
        h2: false,
    })
    .await;
    let h2 = TlsGateway::start(GatewayOptions {
        cert: pki.server(&["localhost"]),
        client_ca: None,
        h2: true,
    })
    .await;
    let cases = [
        (
            "http (baseline)",
            format!("http://localhost:{}/api/v3/x", plain.port()),
            Http2Mode::Never,
            false,
        ),
        (
            "https, HTTP/1.1",
            format!("https://localhost:{}/api/v3/x", h1.port()),
            Http2Mode::Never,
            true,
        ),
        (
            "https, h2 (ALPN)",
            format!("https://localhost:{}/api/v3/x", h2.port()),
            Http2Mode::Auto,
            true,
        ),
    ];
    println!(
        "pooled upstream client, {n} requests per figure, 2 runtime workers, gateway in-process"
    );
    println!(
        "{:<18} {:>14} {:>18} {:>8} {:>8}",
        "upstream", "seq µs/req", "32 callers req/s", "seq ×", "req/s ×"
    );
    let mut base = (0.0, 0.0);
    for (name, url, http2, https) in &cases {
        let c = client(&ca, *http2, 64, *https);
        sequential(&c, url, 200).await; // warm the pool
        let seq = sequential(&c, url, n).await;
        let rps = concurrent(&c, url, n, 32).await;
        if !*https {
            base = (seq, rps);
        }
        println!(
            "{name:<18} {seq:>14.1} {rps:>18.0} {:>8.2} {:>8.2}",
            seq / base.0,
            rps / base.1
        );
    }
    // Pool off: every request pays a connection; resumed = the shared session cache,
    // full = a fresh client (and cache) per request.
    let url = format!("https://localhost:{}/api/v3/x", h1.port());
    let m = (n / 10).max(50);
    let no_pool = client(&ca, Http2Mode::Never, 0, true);
    one(&no_pool, &url).await;
    let resumed = sequential(&no_pool, &url, m).await;
    let t = Instant::now();
    for _ in 0..m {
        one(&client(&ca, Http2Mode::Never, 0, true), &url).await;
    }
    let full = t.elapsed().as_secs_f64() * 1e6 / m as f64;
    let plain_url = format!("http://localhost:{}/api/v3/x", plain.port());
    let plain_no_pool = sequential(&client(&ca, Http2Mode::Never, 0, false), &plain_url, m).await;
    println!("\nno pool, a new connection per request ({m} requests):");
    println!("  http new TCP connection       {plain_no_pool:>9.1} µs/req");
    println!(
        "  https resumed TLS session     {resumed:>9.1} µs/req ({:.2}× http)",
        resumed / plain_no_pool
    );
    println!(
        "  https full handshake          {full:>9.1} µs/req ({:.2}× http)",
        full / plain_no_pool
    );
    println!("  (a fresh client also re-reads the CA file; the pooled rows above pay neither)");
}
