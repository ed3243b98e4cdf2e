//! The floor of the HTTP stack the shim is built on, for `benches/proxy.sh`: hyper's
//! HTTP/1.1 server and hyper-util's pooled client on a tokio runtime with `WORKERS`
//! workers, forwarding each request unchanged (method, path, headers, body) to one
//! upstream and its reply back. Nothing else: no translation, no auth header, no rate
//! limit, no metrics, no log. What this costs per request is what any proxy on this
//! stack pays before doing its job; the shim's cost beyond it is its own.
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
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?
        .block_on(serve(listen, upstream))
}

async fn serve(listen: SocketAddr, upstream: String) -> Result<(), Error> {
    let listener = TcpListener::bind(listen).await?;
    let client: Upstream = Client::builder(TokioExecutor::new()).build_http();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| forward(client.clone(), upstream.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
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
