//! End to end with real TLS: legacy client → shim → HTTPS gateway (private CA, mTLS,
//! through an egress CONNECT proxy), each TLS/proxy failure as a legacy `1306201` with its
//! cause and metric, a CA file changed on disk and picked up by SIGHUP, and the shim's own
//! listener over TLS with its certificate reloaded without dropping connections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;
#[path = "support/tls.rs"]
mod tls_support;

use bk_job_shim::config::Config;
use bk_job_shim::tls::UpstreamTls;
use harness::*;
use serde_json::{Value, json};
use tls_support::{ConnectProxy, GatewayOptions, Pem, Pki, TlsGateway};

const EXECUTE: &str = "/api/c/compapi/v2/job/execute_job/";

fn job() -> Value {
    json!({"bk_app_code": "esb_test", "bk_app_secret": "s3cr3t", "bk_biz_id": 1, "bk_job_id": 1})
}

fn https_config(url: &str, pki: &Pki) -> Config {
    let mut c = test_config(url);
    c.upstream.tls = UpstreamTls {
        ca_file: Some(pki.ca_file()),
        ..UpstreamTls::default()
    };
    c
}

async fn gateway(cert: Pem, client_ca: Option<std::path::PathBuf>) -> TlsGateway {
    TlsGateway::start(GatewayOptions {
        cert,
        client_ca,
        h2: true,
    })
    .await
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn https_gateway_with_a_private_ca_over_h2() {
    let pki = Pki::new("e2e-ok");
    let gw = gateway(pki.server(&["localhost"]), None).await;
    let url = format!("https://localhost:{}/api/bk-job/prod", gw.port());
    let mut config = https_config(&url, &pki);
    // One core, so one upstream pool (each core has its own).
    config.server.worker_threads = 1;
    let shim = start_shim(config).await;
    for _ in 0..3 {
        let a = post(shim.addr, EXECUTE, &job()).await;
        assert_eq!(a.code(), 0, "{:?}", a.body);
        assert_eq!(a.body["data"]["job_instance_id"], 10000);
    }
    let seen = gw.seen();
    assert_eq!(seen.len(), 1, "one pooled h2 connection: {seen:?}");
    assert_eq!(seen[0].alpn.as_deref(), Some("h2"));
    assert_eq!(gw.requests(), 3);
    shim.shutdown().await;
}

#[tokio::test]
async fn mtls_gateway_through_an_egress_proxy() {
    let pki = Pki::new("e2e-mtls");
    let gw = gateway(pki.server(&["bkapi.example.com"]), Some(pki.ca_file())).await;
    let proxy = ConnectProxy::start(Some("shim:pr0xy-pw")).await;
    let client = pki.client("shim");
    let mut cfg = https_config(
        &format!("https://bkapi.example.com:{}/api/bk-job/prod", gw.port()),
        &pki,
    );
    cfg.upstream.tls.client_cert_file = Some(client.cert.clone());
    cfg.upstream.tls.client_key_file = Some(client.key.clone());
    cfg.upstream.proxy = Some(proxy.url(Some("shim:pr0xy-pw")));
    let shim = start_shim(cfg).await;
    let a = post(shim.addr, EXECUTE, &job()).await;
    assert_eq!(a.code(), 0, "{:?}", a.body);
    assert_eq!(proxy.seen().len(), 1);
    assert!(gw.seen()[0].client_cert);
    assert_eq!(gw.seen()[0].sni.as_deref(), Some("bkapi.example.com"));
    shim.shutdown().await;
}

/// Each failure: legacy 1306201 naming the cause, counted by kind, never retried.
#[tokio::test]
async fn every_tls_and_proxy_failure_is_a_clear_legacy_error() {
    let pki = Pki::new("e2e-fail");
    let proxy = ConnectProxy::start(Some("shim:right")).await;
    let untrusted = gateway(pki.untrusted_server(&["localhost"]), None).await;
    let wrong_name = gateway(pki.server(&["other.example.com"]), None).await;
    let expired = gateway(pki.expired_server(&["localhost"]), None).await;
    let mtls = gateway(pki.server(&["localhost"]), Some(pki.ca_file())).await;
    let url = |gw: &TlsGateway| format!("https://localhost:{}/api/bk-job/prod", gw.port());
    let cases: Vec<(&str, Config, &str, &str, &TlsGateway)> = vec![
        (
            "untrusted",
            https_config(&url(&untrusted), &pki),
            "CN=Rogue Test CA); set upstream.tls.ca_file",
            "tls",
            &untrusted,
        ),
        (
            "wrong name",
            https_config(&url(&wrong_name), &pki),
            "not valid for the name \"localhost\"",
            "tls",
            &wrong_name,
        ),
        (
            "expired",
            https_config(&url(&expired), &pki),
            "upstream TLS: certificate expired",
            "tls",
            &expired,
        ),
        (
            "no client cert",
            https_config(&url(&mtls), &pki),
            "demands a client certificate",
            "tls",
            &mtls,
        ),
        (
            "proxy 407",
            {
                let mut c = https_config(&url(&mtls), &pki);
                c.upstream.proxy = Some(proxy.url(Some("shim:wr0ng-pw")));
                c
            },
            "refused CONNECT: 407",
            "proxy",
            &mtls,
        ),
    ];
    for (name, cfg, cause, kind, gw) in cases {
        let before = gw.requests();
        let connects = proxy.seen().len();
        let shim = start_shim(cfg).await;
        let a = post(shim.addr, EXECUTE, &job()).await;
        assert_eq!(a.code(), 1306201, "{name}: {:?}", a.body);
        let msg = a.body["message"].as_str().unwrap_or_default();
        assert!(msg.contains(cause), "{name}: {msg}");
        assert!(
            !msg.contains("wr0ng-pw") && !msg.contains("s3cr3t"),
            "{name}: {msg}"
        );
        let (_, metrics) = get_text(shim.admin_addr, "/metrics").await;
        let series = format!("bk_job_shim_upstream_errors_total{{kind=\"{kind}\"}}");
        assert_eq!(metric(&metrics, &series), 1.0, "{name}: {series}");
        assert!(!metrics.contains("wr0ng-pw"));
        assert_eq!(gw.requests(), before, "{name}: nothing reached the gateway");
        if kind == "proxy" {
            assert_eq!(
                proxy.seen().len(),
                connects + 1,
                "{name}: one CONNECT, no retry"
            );
        }
        shim.shutdown().await;
    }
    // Handshakes refused by the client (untrusted, wrong name, expired): one attempt each.
    assert_eq!(untrusted.failed_handshakes(), 1);
    assert_eq!(wrong_name.failed_handshakes(), 1);
    assert_eq!(expired.failed_handshakes(), 1);
}

fn write_config(path: &std::path::Path, url: &str, ca: &std::path::Path, extra: &str) {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{extra}\n[upstream]\nurl = \"{url}\"\n[upstream.tls]\nca_file = \"{}\"\n",
        ca.display()
    );
    std::fs::write(path, text).unwrap();
}

/// A reload that changes only the CA file's contents swaps the client.
#[tokio::test]
async fn sighup_picks_up_a_new_ca_bundle_under_the_same_path() {
    let pki = Pki::new("e2e-ca-reload");
    let gw = gateway(pki.server(&["localhost"]), None).await;
    let ca = pki.dir.join("gateway-ca.pem");
    std::fs::copy(pki.rogue_ca_file(), &ca).unwrap();
    let cfg = pki.dir.join("shim.toml");
    let url = format!("https://localhost:{}/api/bk-job/prod", gw.port());
    write_config(&cfg, &url, &ca, "");
    let shim = ShimProcess::start(&cfg, &[]).await;
    let a = post(shim.addr, EXECUTE, &job()).await;
    assert_eq!(a.code(), 1306201, "{:?}", a.body);

    std::fs::copy(pki.ca_file(), &ca).unwrap();
    shim.signal("HUP");
    let mut code = -1;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if shim.logs().contains("configuration reloaded") {
            code = post(shim.addr, EXECUTE, &job()).await.code();
            break;
        }
    }
    assert_eq!(code, 0, "{}", shim.logs());
}

/// A TLS client connection to the shim's listener (HTTP/1.1, kept open).
struct TlsConn {
    send: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    served: rustls::pki_types::CertificateDer<'static>,
}

async fn tls_connect(pki: &Pki, addr: std::net::SocketAddr) -> TlsConn {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(pki.ca_file()).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let served = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    TlsConn { send, served }
}

impl TlsConn {
    async fn execute(&mut self) -> i64 {
        use http_body_util::BodyExt;
        let req = http::Request::post(EXECUTE)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                job().to_string(),
            )))
            .unwrap();
        let resp = self.send.send_request(req).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice::<Value>(&body).unwrap()["code"]
            .as_i64()
            .unwrap_or(-1)
    }
}

/// `[server.tls]`: legacy clients over HTTPS; SIGHUP swaps the certificate, open
/// connections carry on.
#[tokio::test]
async fn listener_tls_certificate_is_reloaded_on_sighup_without_dropping_connections() {
    let pki = Pki::new("e2e-listener");
    let (first, second) = (pki.server(&["localhost"]), pki.server(&["localhost"]));
    let (cert, key) = (pki.dir.join("listener.crt"), pki.dir.join("listener.key"));
    std::fs::copy(&first.cert, &cert).unwrap();
    std::fs::copy(&first.key, &key).unwrap();
    let cfg = pki.dir.join("shim.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let shim = ShimProcess::start(&cfg, &[]).await;
    let mut old = tls_connect(&pki, shim.addr).await;
    assert_eq!(old.served, first.chain()[0]);
    // A legacy envelope came back over TLS (the stub's own verdict on the credentials).
    let answered = old.execute().await;
    assert_ne!(answered, -1);

    std::fs::copy(&second.cert, &cert).unwrap();
    std::fs::copy(&second.key, &key).unwrap();
    shim.signal("HUP");
    let mut swapped = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if tls_connect(&pki, shim.addr).await.served == second.chain()[0] {
            swapped = true;
            break;
        }
    }
    assert!(swapped, "{}", shim.logs());
    // The connection opened before the reload still works.
    assert_eq!(old.execute().await, answered);
}

/// `check-config` reads and checks the TLS files and the proxy URL, never echoing secrets.
#[test]
fn check_config_reads_the_tls_files() {
    let pki = Pki::new("e2e-check");
    let listener = pki.server(&["localhost"]);
    let bad = pki.dir.join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "[server.tls]\ncert_file = \"{}\"\n[upstream]\nurl = \"https://bkapi.example.com/api/bk-job/prod\"\nproxy = \"socks5://u:pr0xy-pw@proxy:1080\"\n[upstream.tls]\nca_file = \"{}\"\n",
            listener.cert.display(),
            pki.dir.join("missing-ca.pem").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bk-job-shim"))
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "upstream.tls.ca_file",
        "server.tls.cert_file and key_file",
        "upstream.proxy",
    ] {
        assert!(err.contains(needle), "missing {needle} in:\n{err}");
    }
    assert!(!err.contains("pr0xy-pw"), "{err}");

    let good = pki.dir.join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n[upstream]\nurl = \"https://bkapi.example.com/api/bk-job/prod\"\nproxy = \"http://u:pw@proxy.corp:3128\"\n[upstream.tls]\nca_file = \"{}\"\n",
            listener.cert.display(),
            listener.key.display(),
            pki.ca_file().display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bk-job-shim"))
        .arg("check-config")
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
