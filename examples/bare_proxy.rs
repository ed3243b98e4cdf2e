//! The floor of the HTTP stack the shim is built on, for `benches/proxy.sh`: hyper's
//! HTTP/1.1 server and hyper-util's pooled client, served as the shim serves: `WORKERS`
//! threads, each with its own current-thread tokio runtime, listener (`SO_REUSEPORT` when
//! more than one) and upstream pool (the shim's `cores` module). It forwards each request
//! unchanged (method, path, headers, body) to one upstream and its reply back. Nothing
//! else: no translation, no auth header, no rate limit, no metrics, no log. What this
//! costs per request is what any proxy on this stack pays before doing its job; the
//! shim's cost beyond it is its own.
//!
//!     cargo run --release --example bare_proxy -- 127.0.0.1:8081 127.0.0.1:8080

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use tokio::net::TcpListener;

use bk_job_shim::cores::{self, Cores};

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Upstream = Client<HttpConnector, Full<Bytes>>;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        return Err("usage: bare_proxy LISTEN_ADDR UPSTREAM_HOST:PORT".into());
    };
    let listen: SocketAddr = listen.parse()?;
    let workers = std::env::var("WORKERS").map_or(Ok(1), |w| w.parse())?;
    let listeners = cores::bind(listen, cores::count(workers))?;
    let serving = Cores::spawn(listeners, move |_core, listener| {
        serve(listener, upstream.clone())
    })?;
    tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(serving.join());
    Ok(())
}

/// One core's accept loop, with the core's own pool; ends when accepting fails.
async fn serve(listener: TcpListener, upstream: String) -> bool {
    let client: Upstream = Client::builder(TokioExecutor::new()).build_http();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| forward(client.clone(), upstream.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
    false
}

/// One request, read whole, sent on a pooled connection; the reply read whole and
/// answered.
async fn forward(
    client: Upstream,
    upstream: String,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Error> {
    let (mut parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = format!("http://{upstream}{path}").parse::<Uri>()?;
    let reply = client
        .request(Request::from_parts(parts, Full::new(body)))
        .await?;
    let (parts, body) = reply.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}
