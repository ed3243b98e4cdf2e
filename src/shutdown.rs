//! Process signals: SIGTERM/SIGINT end the process gracefully, SIGHUP reloads.
//!
//! Both functions install their handlers when they are called, not when their result is
//! first polled: call them before the listeners open, so that a signal sent as soon as the
//! process answers is handled, not met by the default action (SIGHUP and SIGTERM would end
//! the process at once; under `nohup` SIGHUP would be ignored).

use std::future::Future;

/// Resolves on SIGTERM or SIGINT (Ctrl-C). Must be called inside a tokio runtime.
pub fn terminate() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            match handlers {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM received"),
                        _ = int.recv() => tracing::info!("SIGINT received"),
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A stream of SIGHUP; `None` where signals are unavailable.
#[cfg(unix)]
pub fn hangups() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::time::Duration;

    /// Sends `sig` to this test process.
    fn raise(sig: &str) {
        let pid = std::process::id().to_string();
        let ok = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    // Signals sent before the first poll are caught by the handlers installed at the call:
    // without them, the default action would end this whole test process.
    #[tokio::test]
    async fn handlers_are_installed_when_called_not_when_polled() {
        let terminated = super::terminate();
        let mut hangups = super::hangups().expect("a SIGHUP stream");
        raise("HUP");
        raise("TERM");
        tokio::time::timeout(Duration::from_secs(10), hangups.recv())
            .await
            .expect("SIGHUP delivered to the stream")
            .expect("stream open");
        tokio::time::timeout(Duration::from_secs(10), terminated)
            .await
            .expect("SIGTERM delivered to terminate()");
    }
}
