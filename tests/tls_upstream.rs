//! The HTTPS connector against a real rustls gateway with certificates made at test time:
//! trust (CA file), SNI and its override, mTLS, ALPN h2, resumption, the egress CONNECT
//! proxy and NO_PROXY, and every failure of the issue's point 3 with its cause and kind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/tls.rs"]
mod tls_support;

use bk_job_shim::tls::{
    ConnectorSettings, Failure, FailureKind, Http2Mode, HttpsConnector, UpstreamTls, classify,
    https_connector,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;
use tls_support::{ConnectProxy, GatewayOptions, Pki, TlsGateway};

fn settings(tls: UpstreamTls) -> ConnectorSettings {
    ConnectorSettings {
        tls,
        connect_timeout: Duration::from_secs(3),
        ..ConnectorSettings::default()
    }
}

fn trusting(pki: &Pki) -> UpstreamTls {
    UpstreamTls {
        ca_file: Some(pki.ca_file()),
        ..UpstreamTls::default()
    }
}

fn client(s: &ConnectorSettings, idle_per_host: usize) -> Client<HttpsConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(idle_per_host)
        .build(https_connector(s, true).unwrap())
}

async fn get(
    c: &Client<HttpsConnector, Full<Bytes>>,
    url: &str,
) -> Result<(http::Version, String), hyper_util::client::legacy::Error> {
    let resp = c.get(url.parse().unwrap()).await?;
    let version = resp.version();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Ok((version, String::from_utf8_lossy(&body).into_owned()))
}

async fn failure(s: &ConnectorSettings, url: &str) -> Failure {
    let err = get(&client(s, 1), url)
        .await
        .expect_err("the request must fail");
    classify(&err).unwrap_or_else(|| panic!("not classified: {err:?}"))
}

async fn gateway(cert: tls_support::Pem) -> TlsGateway {
    TlsGateway::start(GatewayOptions {
        cert,
        client_ca: None,
        h2: false,
    })
    .await
}

#[tokio::test]
async fn private_ca_file_is_trusted_and_sni_is_the_url_host() {
    let pki = Pki::new("ok");
    let gw = gateway(pki.server(&["localhost"])).await;
    let c = client(&settings(trusting(&pki)), 1);
    let (_, body) = get(&c, &format!("https://localhost:{}/api/v3/x", gw.port()))
        .await
        .unwrap();
    assert!(body.contains(r#""path":"/api/v3/x""#), "{body}");
    let seen = gw.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].sni.as_deref(), Some("localhost"));
    assert!(!seen[0].client_cert);
}

#[tokio::test]
async fn server_name_overrides_sni_and_the_verified_name() {
    let pki = Pki::new("sni");
    let gw = gateway(pki.server(&["bkapi.example.com"])).await;
    let tls = UpstreamTls {
        server_name: Some("bkapi.example.com".into()),
        ..trusting(&pki)
    };
    let c = client(&settings(tls), 1);
    get(&c, &format!("https://127.0.0.1:{}/api/v3/x", gw.port()))
        .await
        .unwrap();
    assert_eq!(gw.seen()[0].sni.as_deref(), Some("bkapi.example.com"));
}

#[tokio::test]
async fn untrusted_certificate_names_its_issuer() {
    let pki = Pki::new("untrusted");
    let gw = gateway(pki.untrusted_server(&["localhost"])).await;
    let f = failure(
        &settings(trusting(&pki)),
        &format!("https://localhost:{}/", gw.port()),
    )
    .await;
    assert_eq!(f.kind, FailureKind::Tls);
    assert!(
        f.cause
            .starts_with("upstream TLS: certificate not trusted (issuer ")
            && f.cause.contains("CN=Rogue Test CA"),
        "{}",
        f.cause
    );
    assert!(f.cause.contains("upstream.tls.ca_file"), "{}", f.cause);
    assert_eq!(gw.requests(), 0);
}

#[tokio::test]
async fn system_roots_do_not_trust_a_private_ca() {
    let pki = Pki::new("system");
    let gw = gateway(pki.server(&["localhost"])).await;
    // No ca_file: the system trust store (which does not know the test CA).
    let Ok(c) = https_connector(&settings(UpstreamTls::default()), true) else {
        // A machine without any system roots: the builder says so (checked elsewhere).
        return;
    };
    let c: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(c);
    let err = get(&c, &format!("https://localhost:{}/", gw.port()))
        .await
        .unwrap_err();
    let f = classify(&err).unwrap();
    assert!(f.cause.contains("CN=bk-job-shim test CA"), "{}", f.cause);
}

#[tokio::test]
async fn wrong_name_is_reported_with_the_names_the_certificate_has() {
    let pki = Pki::new("name");
    let gw = gateway(pki.server(&["other.example.com"])).await;
    let f = failure(
        &settings(trusting(&pki)),
        &format!("https://localhost:{}/", gw.port()),
    )
    .await;
    assert_eq!(f.kind, FailureKind::Tls);
    assert!(
        f.cause.contains("not valid for the name \"localhost\"")
            && f.cause.contains("other.example.com")
            && f.cause.contains("upstream.tls.server_name"),
        "{}",
        f.cause
    );
}

#[tokio::test]
async fn expired_certificate_is_reported_with_its_date() {
    let pki = Pki::new("expired");
    let gw = gateway(pki.expired_server(&["localhost"])).await;
    let f = failure(
        &settings(trusting(&pki)),
        &format!("https://localhost:{}/", gw.port()),
    )
    .await;
    assert_eq!(f.kind, FailureKind::Tls);
    assert!(
        f.cause
            .starts_with("upstream TLS: certificate expired (not valid after 2020-01-01"),
        "{}",
        f.cause
    );
}

#[tokio::test]
async fn plain_http_port_is_not_mistaken_for_a_certificate_problem() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let pki = Pki::new("plain");
    let f = failure(
        &settings(trusting(&pki)),
        &format!("https://localhost:{port}/"),
    )
    .await;
    assert_eq!(f.kind, FailureKind::Tls);
    assert!(
        f.cause.contains("serving https on this port"),
        "{}",
        f.cause
    );
}

async fn mtls_gateway(pki: &Pki) -> TlsGateway {
    TlsGateway::start(GatewayOptions {
        cert: pki.server(&["localhost"]),
        client_ca: Some(pki.ca_file()),
        h2: false,
    })
    .await
}

#[tokio::test]
async fn mtls_presents_the_client_certificate() {
    let pki = Pki::new("mtls");
    let gw = mtls_gateway(&pki).await;
    let client_pem = pki.client("shim.example.com");
    let tls = UpstreamTls {
        client_cert_file: Some(client_pem.cert.clone()),
        client_key_file: Some(client_pem.key.clone()),
        ..trusting(&pki)
    };
    get(
        &client(&settings(tls), 1),
        &format!("https://localhost:{}/", gw.port()),
    )
    .await
    .unwrap();
    assert!(gw.seen()[0].client_cert);
    assert_eq!(gw.requests(), 1);
}

#[tokio::test]
async fn missing_client_certificate_is_explained() {
    let pki = Pki::new("mtls-missing");
    let gw = mtls_gateway(&pki).await;
    let f = failure(
        &settings(trusting(&pki)),
        &format!("https://localhost:{}/", gw.port()),
    )
    .await;
    assert_eq!(f.kind, FailureKind::Tls);
    assert!(
        f.cause.contains("demands a client certificate"),
        "{}",
        f.cause
    );
    assert_eq!(gw.requests(), 0);
}

#[tokio::test]
async fn refused_client_certificate_is_explained() {
    let pki = Pki::new("mtls-refused");
    let gw = mtls_gateway(&pki).await;
    let rogue = pki.untrusted_client("intruder");
    let tls = UpstreamTls {
        client_cert_file: Some(rogue.cert.clone()),
        client_key_file: Some(rogue.key.clone()),
        ..trusting(&pki)
    };
    let f = failure(&settings(tls), &format!("https://localhost:{}/", gw.port())).await;
    assert_eq!(f.kind, FailureKind::Tls);
    assert!(
        f.cause
            .starts_with("upstream TLS: the gateway refused the client certificate (alert "),
        "{}",
        f.cause
    );
    assert_eq!(gw.requests(), 0);
}

#[tokio::test]
async fn h2_is_negotiated_by_alpn_and_multiplexed_on_one_connection() {
    let pki = Pki::new("h2");
    let gw = TlsGateway::start(GatewayOptions {
        cert: pki.server(&["localhost"]),
        client_ca: None,
        h2: true,
    })
    .await;
    let c = client(&settings(trusting(&pki)), 8);
    let url = format!("https://localhost:{}/api/v3/x", gw.port());
    let (version, _) = get(&c, &url).await.unwrap();
    assert_eq!(version, http::Version::HTTP_2);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move { get(&c, &url).await.map(|r| r.0) })
        })
        .collect();
    for h in handles {
        assert_eq!(h.await.unwrap().unwrap(), http::Version::HTTP_2);
    }
    let seen = gw.seen();
    assert_eq!(seen.len(), 1, "one multiplexed connection: {seen:?}");
    assert_eq!(seen[0].alpn.as_deref(), Some("h2"));

    // http2 = "never": no ALPN, HTTP/1.1.
    let never = ConnectorSettings {
        http2: Http2Mode::Never,
        ..settings(trusting(&pki))
    };
    let (version, _) = get(&client(&never, 1), &url).await.unwrap();
    assert_eq!(version, http::Version::HTTP_11);
    assert_eq!(gw.seen()[1].alpn, None);
}

#[tokio::test]
async fn new_connections_resume_the_tls_session() {
    let pki = Pki::new("resume");
    let gw = gateway(pki.server(&["localhost"])).await;
    // No idle connections kept: every request opens a new TLS connection.
    let c = client(&settings(trusting(&pki)), 0);
    let url = format!("https://localhost:{}/", gw.port());
    for _ in 0..3 {
        get(&c, &url).await.unwrap();
    }
    let seen = gw.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(!seen[0].resumed);
    assert!(seen[1].resumed && seen[2].resumed, "{seen:?}");
}

#[tokio::test]
async fn egress_proxy_tunnels_with_credentials_and_the_gateway_name() {
    let pki = Pki::new("proxy");
    let gw = gateway(pki.server(&["bkapi.example.com"])).await;
    let proxy = ConnectProxy::start(Some("shim:pr0xy-secret")).await;
    let s = ConnectorSettings {
        proxy: Some(proxy.url(Some("shim:pr0xy-secret"))),
        ..settings(trusting(&pki))
    };
    // bkapi.example.com is never resolved by the shim: only the proxy knows where it is.
    let url = format!("https://bkapi.example.com:{}/api/v3/x", gw.port());
    get(&client(&s, 1), &url).await.unwrap();
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, format!("bkapi.example.com:{}", gw.port()));
    assert!(seen[0].auth.as_deref().unwrap_or("").starts_with("Basic "));
    assert_eq!(gw.seen()[0].sni.as_deref(), Some("bkapi.example.com"));
}

#[tokio::test]
async fn egress_proxy_refusal_is_a_proxy_failure_without_the_password() {
    let pki = Pki::new("proxy-407");
    let gw = gateway(pki.server(&["localhost"])).await;
    let proxy = ConnectProxy::start(Some("shim:right")).await;
    let s = ConnectorSettings {
        proxy: Some(proxy.url(Some("shim:wr0ng-secret"))),
        ..settings(trusting(&pki))
    };
    let f = failure(&s, &format!("https://localhost:{}/", gw.port())).await;
    assert_eq!(f.kind, FailureKind::Proxy);
    assert!(f.cause.contains("refused CONNECT: 407"), "{}", f.cause);
    assert!(f.cause.contains("http://***@127.0.0.1:"), "{}", f.cause);
    assert!(!f.cause.contains("wr0ng-secret"), "{}", f.cause);
    assert!(gw.seen().is_empty());
}

#[tokio::test]
async fn unreachable_egress_proxy_is_a_proxy_failure() {
    let pki = Pki::new("proxy-down");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let s = ConnectorSettings {
        proxy: Some(format!("http://u:s3cret@127.0.0.1:{port}")),
        ..settings(trusting(&pki))
    };
    let f = failure(&s, "https://bkapi.example.com/").await;
    assert_eq!(f.kind, FailureKind::Proxy);
    assert!(
        f.cause
            .starts_with("cannot connect to egress proxy http://***@127.0.0.1:"),
        "{}",
        f.cause
    );
    assert!(!f.cause.contains("s3cret"));
}

#[tokio::test]
async fn no_proxy_hosts_bypass_the_egress_proxy() {
    let pki = Pki::new("no-proxy");
    let gw = gateway(pki.server(&["localhost"])).await;
    let proxy = ConnectProxy::start(None).await;
    let s = ConnectorSettings {
        proxy: Some(proxy.url(None)),
        no_proxy: "example.org, localhost".into(),
        ..settings(trusting(&pki))
    };
    get(&client(&s, 1), &format!("https://localhost:{}/", gw.port()))
        .await
        .unwrap();
    assert!(proxy.seen().is_empty());
    assert_eq!(gw.requests(), 1);
}
