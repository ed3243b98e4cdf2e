//! How connections to the upstream are made. One function, so that the client does not
//! care whether it speaks plain TCP, TLS, or goes through an egress proxy.

use crate::config::UpstreamConfig;
use crate::tls::{ConnectorSettings, HttpsConnector, egress, https_connector};

/// The connector type the client is built over: rustls over a direct or CONNECT-tunnelled
/// TCP connection (see [`crate::tls`]).
pub type Connector = HttpsConnector;

/// The connector for `[upstream]`: `https` tells whether the URL is `https://` (only then
/// are trust roots and certificates loaded). `NO_PROXY` is read from the environment.
pub fn connector(cfg: &UpstreamConfig, https: bool) -> Result<Connector, String> {
    let settings = ConnectorSettings {
        tls: cfg.tls.clone(),
        http2: cfg.http2,
        proxy: cfg.proxy.clone(),
        no_proxy: egress::no_proxy_from_env(),
        connect_timeout: cfg.connect_timeout,
    };
    https_connector(&settings, https)
}
