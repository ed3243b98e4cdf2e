//! Added latency at a fixed request rate (DESIGN §7: "added p99 latency under 1 ms at
//! 1,000 requests/s"). Open loop: request `i` is sent at `start + i / rate` by its own
//! task, so a slow reply delays no later request. Latency is measured from the moment the
//! request is actually sent (tokio's timer has 1 ms granularity, which would otherwise be
//! added to every sample); how late sends started is reported too, to show the client
//! kept up.
//!
//! Runs the release-built binary twice as separate processes: `stub-gateway` (upstream)
//! and `serve` in front of it, then sends the same job at the same rate to the stub
//! directly (v3 body) and through the shim (legacy body). Prints both distributions and
//! the difference. `cargo bench --bench latency [-- RATE SECONDS]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LEGACY: &str = r#"{"bk_app_code":"bench","bk_app_secret":"s","bk_token":"t","bk_biz_id":1,"script_id":1,"account":"root","ip_list":[{"bk_cloud_id":0,"ip":"10.0.0.1"},{"bk_cloud_id":0,"ip":"10.0.0.2"}]}"#;
const V3: &str = r#"{"bk_scope_type":"biz","bk_scope_id":"1","script_version_id":1,"account_alias":"root","target_server":{"ip_list":[{"bk_cloud_id":0,"ip":"10.0.0.1"},{"bk_cloud_id":0,"ip":"10.0.0.2"}]}}"#;
const AUTH: &str = r#"{"bk_app_code":"bench","bk_app_secret":"s","bk_token":"t"}"#;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("port {port} did not open");
}

async fn run(
    url: &str,
    body: &'static str,
    auth: bool,
    rate: u64,
    secs: u64,
) -> (Vec<Duration>, Vec<Duration>) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build_http();
    let total = rate * secs;
    let start = Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
        let client = client.clone();
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            let sent = Instant::now();
            let mut req = http::Request::post(url).header("content-type", "application/json");
            if auth {
                req = req.header("x-bkapi-authorization", AUTH);
            }
            let req = req
                .body(Full::new(Bytes::from_static(body.as_bytes())))
                .unwrap();
            let resp = client.request(req).await.unwrap();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            assert!(
                bytes.windows(8).any(|w| w == b"\"code\":0"),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
            (sent.elapsed(), sent.saturating_duration_since(due))
        }));
    }
    let mut latency = Vec::with_capacity(tasks.len());
    let mut late = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (l, d) = t.await.unwrap();
        latency.push(l);
        late.push(d);
    }
    latency.sort();
    late.sort();
    (latency, late)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rate = args.first().copied().unwrap_or(1000);
    let secs = args.get(1).copied().unwrap_or(10);
    let bin = env!("CARGO_BIN_EXE_bk-job-shim");
    let (up, api, admin) = (free_port(), free_port(), free_port());
    let _stub = Proc(
        Command::new(bin)
            .args([
                "stub-gateway",
                "--listen",
                &format!("127.0.0.1:{up}"),
                "--run-time",
                "0s",
            ])
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(up);
    let cfg = std::env::temp_dir().join(format!("bk-job-shim-latency-{}.toml", std::process::id()));
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{api}\"\nadmin_listen = \"127.0.0.1:{admin}\"\nworker_threads = 1\n\
             [upstream]\nurl = \"http://127.0.0.1:{up}\"\n[log]\nfilter = \"warn\"\n\
             [rate_limit.rates]\n__default = [{{ period = 1, tokens = 1000000 }}]\n"
        ),
    )
    .unwrap();
    let _shim = Proc(
        Command::new(bin)
            .args(["serve", "--config"])
            .arg(&cfg)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(api);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Warm both paths (connections, caches).
        run(&format!("http://127.0.0.1:{up}/api/v3/fast_execute_script"), V3, true, 200, 1).await;
        run(&format!("http://127.0.0.1:{api}/api/c/compapi/v2/job/fast_execute_script/"), LEGACY, false, 200, 1).await;
        let (direct, late_d) = run(&format!("http://127.0.0.1:{up}/api/v3/fast_execute_script"), V3, true, rate, secs).await;
        let (shim, late_s) = run(&format!("http://127.0.0.1:{api}/api/c/compapi/v2/job/fast_execute_script/"), LEGACY, false, rate, secs).await;
        println!("{rate} req/s for {secs} s (open loop), latency in ms:");
        println!("{:<22} {:>8} {:>8} {:>8} {:>8}", "path", "p50", "p90", "p99", "p99.9");
        for (name, d) in [("upstream direct", &direct), ("through bk-job-shim", &shim)] {
            println!("{name:<22} {:>8.3} {:>8.3} {:>8.3} {:>8.3}", pct(d, 0.5), pct(d, 0.9), pct(d, 0.99), pct(d, 0.999));
        }
        println!(
            "send lateness p99 (client keeping up): {:.3} / {:.3} ms",
            pct(&late_d, 0.99),
            pct(&late_s, 0.99)
        );
        println!(
            "added by the shim: p50 {:.3} ms, p99 {:.3} ms (DESIGN §7 target: p99 < 1 ms at 1,000 req/s)",
            pct(&shim, 0.5) - pct(&direct, 0.5),
            pct(&shim, 0.99) - pct(&direct, 0.99)
        );
    });
    let _ = std::fs::remove_file(cfg);
}
