//! `bk-job-shim healthcheck [--admin URL]`: probe a running shim's `GET /readyz` and exit
//! 0 when it answers 200, 1 otherwise (refused, timed out, draining 503, bad URL).
//!
//! Container images without a shell (distroless) cannot run `curl` in a `HEALTHCHECK`;
//! the binary probes itself instead. It uses the same hyper client stack as the
//! upstream, on a one-thread runtime, with one deadline for the whole exchange.

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::process::ExitCode;
use std::time::Duration;

/// Admin base URL probed when `--admin` is not given (the default `server.admin_listen`).
pub const DEFAULT_ADMIN: &str = "http://127.0.0.1:9090";

/// The `/readyz` URI under an admin base URL (`http://host:port`, with or without a
/// trailing `/` or a path prefix). Only plain `http` is accepted: the admin listener
/// does not speak TLS.
pub fn readyz_uri(admin: &str) -> Result<Uri, String> {
    let base: Uri = admin
        .parse()
        .map_err(|e| format!("--admin {admin:?} is not a URL: {e}"))?;
    if base.scheme_str() != Some("http") || base.authority().is_none() {
        return Err(format!("--admin {admin:?} must be an http://HOST:PORT URL"));
    }
    let prefix = base.path().trim_end_matches('/');
    format!(
        "http://{}{prefix}/readyz",
        base.authority().map_or("", |a| a.as_str())
    )
    .parse()
    .map_err(|e| format!("--admin {admin:?}: {e}"))
}

/// Why a probe failed, for the one line printed on stderr.
async fn probe(uri: Uri, timeout: Duration) -> Result<(), String> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http();
    let req = Request::get(uri.clone())
        .body(Empty::new())
        .map_err(|e| format!("{uri}: {e}"))?;
    let resp = tokio::time::timeout(timeout, client.request(req))
        .await
        .map_err(|_| {
            format!(
                "{uri}: no answer within {}",
                humantime::format_duration(timeout)
            )
        })?
        .map_err(|e| format!("{uri}: {e}"))?;
    match resp.status() {
        StatusCode::OK => Ok(()),
        s => Err(format!("{uri}: {s}")),
    }
}

/// Run the probe: exit 0 when ready, 1 otherwise (with one line on stderr).
pub fn run(admin: &str, timeout: Duration) -> ExitCode {
    let result = readyz_uri(admin).and_then(|uri| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        rt.block_on(probe(uri, timeout))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bk-job-shim: not ready: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readyz_under_the_admin_base() {
        let ok = |a: &str| readyz_uri(a).map(|u| u.to_string());
        assert_eq!(ok(DEFAULT_ADMIN), Ok("http://127.0.0.1:9090/readyz".into()));
        assert_eq!(ok("http://[::1]:9/"), Ok("http://[::1]:9/readyz".into()));
        assert_eq!(ok("http://h:9/shim/"), Ok("http://h:9/shim/readyz".into()));
        assert!(readyz_uri("https://h:9").is_err());
        assert!(readyz_uri("127.0.0.1:9090").is_err());
        assert!(readyz_uri("http://").is_err());
        assert!(readyz_uri("not a url").is_err());
    }
}
