//! How connections to the upstream are made. One function, so that another connector
//! (TLS, an egress proxy) can be swapped in without touching the client.

use crate::config::UpstreamConfig;
use hyper_util::client::legacy::connect::HttpConnector;

/// The connector type the client is built over.
pub type Connector = HttpConnector;

/// Plain TCP with `upstream.connect_timeout` and `TCP_NODELAY`.
pub fn connector(cfg: &UpstreamConfig) -> Connector {
    let mut c = HttpConnector::new();
    c.set_connect_timeout(Some(cfg.connect_timeout));
    c.set_nodelay(true);
    c.enforce_http(true);
    c
}
