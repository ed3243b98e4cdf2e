//! Translation of the legacy call into its first v3 request (pure, `crate::translate`),
//! plus what configuration adds to it: the `auth.callback_hosts` allow-list on
//! `callback_url`. Refusals name the field (`1306406`) and are counted by reason;
//! dropped `steps` are counted; translation warnings are logged once and sent back in
//! one `X-Bk-Job-Shim-Warning` header.

use super::legacy_body::LegacyCall;
use super::{BoxFuture, Resp, refuse, take};
use crate::error::ShimError;
use crate::metrics::Metrics;
use crate::translate::exchange::PendingExchange;
use crate::translate::{self, Options, Route, Translated, UpstreamRequest};
use http::{HeaderValue, Request};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Response header carrying translation warnings.
pub const WARNING_HEADER: &str = "x-bk-job-shim-warning";

/// Most warnings shown in `X-Bk-Job-Shim-Warning` (one header, however many there are:
/// some HTTP clients fail on responses with over 100 headers).
const MAX_SHOWN_WARNINGS: usize = 3;

/// Translates legacy calls.
#[derive(Debug, Clone)]
pub struct TranslateLayer {
    options: Options,
    callback_hosts: Arc<[String]>,
    callback_ports: Arc<[u16]>,
    metrics: Arc<Metrics>,
}

impl TranslateLayer {
    /// Translate with `options`; `callback_hosts` is `auth.callback_hosts`.
    pub fn new(options: Options, callback_hosts: &[String], metrics: Arc<Metrics>) -> Self {
        Self {
            options,
            callback_hosts: callback_hosts.into(),
            callback_ports: Arc::from([]),
            metrics,
        }
    }

    /// Ports a `callback_url` may name (`auth.callback_ports`; empty = 80 and 443).
    pub fn with_callback_ports(mut self, ports: &[u16]) -> Self {
        self.callback_ports = ports.into();
        self
    }
}

impl<S> Layer<S> for TranslateLayer {
    type Service = Translate<S>;
    fn layer(&self, inner: S) -> Translate<S> {
        Translate {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`TranslateLayer`].
#[derive(Debug, Clone)]
pub struct Translate<S> {
    inner: S,
    layer: TranslateLayer,
}

impl<S> Service<Request<LegacyCall>> for Translate<S>
where
    S: Service<Request<UpstreamRequest>, Response = Resp> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Resp;
    type Error = S::Error;
    type Future = BoxFuture<Result<Resp, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<LegacyCall>) -> Self::Future {
        let (parts, call) = req.into_parts();
        let translated = self.layer.translate(&parts, call);
        let mut inner = take(&mut self.inner);
        Box::pin(async move {
            let request = match translated {
                Ok(r) => r,
                Err(e) => return Ok(refuse(e)),
            };
            let (request, exchange) = request;
            let mut parts = parts;
            if let Some(ex) = exchange {
                parts.extensions.insert(ex);
            }
            let warning = warning_header(&request.warnings);
            let mut resp = inner.call(Request::from_parts(parts, request)).await?;
            if let Some(v) = warning {
                if !resp.headers().contains_key(WARNING_HEADER) {
                    resp.headers_mut().insert(WARNING_HEADER, v);
                }
            }
            Ok(resp)
        })
    }
}

impl TranslateLayer {
    fn translate(
        &self,
        parts: &http::request::Parts,
        call: LegacyCall,
    ) -> Result<(UpstreamRequest, Option<PendingExchange>), ShimError> {
        let Some(route) = parts.extensions.get::<Route>() else {
            return Err(ShimError::Internal);
        };
        let Translated {
            request,
            steps_dropped,
            exchange,
            ..
        } = translate::translate_typed(route, call.params, call.typed, &self.options).map_err(
            |e| {
                self.metrics
                    .translation_reject(route.name(), e.reason.as_str());
                ShimError::Translate(e)
            },
        )?;
        check_callback(&request, &self.callback_hosts, &self.callback_ports)?;
        if steps_dropped > 0 {
            self.metrics.steps_ignored();
        }
        if let Some(first) = request.warnings.first() {
            tracing::warn!(
                count = request.warnings.len(),
                first = first.as_str(),
                "legacy request changed in translation"
            );
        }
        Ok((request, exchange))
    }
}

/// Enforce `auth.callback_hosts` and `auth.callback_ports` on the translated body.
fn check_callback(req: &UpstreamRequest, hosts: &[String], ports: &[u16]) -> Result<(), ShimError> {
    let Some(url) = req
        .body
        .as_ref()
        .and_then(|b| b.field::<std::borrow::Cow<'_, str>>("callback_url"))
        .filter(|s| !s.trim().is_empty())
    else {
        return Ok(());
    };
    let uri = url.parse::<http::Uri>().unwrap_or_default();
    if !crate::protocol::callback_port_allowed(&uri, ports) {
        return Err(ShimError::CallbackPortNotAllowed(
            uri.port_u16().unwrap_or_default(),
        ));
    }
    if hosts.is_empty() {
        return Ok(());
    }
    let host = uri.host().map(str::to_ascii_lowercase).unwrap_or_default();
    if hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        Ok(())
    } else {
        Err(ShimError::CallbackNotAllowed(host))
    }
}

/// The single `X-Bk-Job-Shim-Warning` value for `warnings`.
pub(crate) fn warning_header(warnings: &[String]) -> Option<HeaderValue> {
    if warnings.is_empty() {
        return None;
    }
    let mut text = warnings
        .iter()
        .take(MAX_SHOWN_WARNINGS)
        .map(|w| super::envelope::ascii_only(w))
        .collect::<Vec<_>>()
        .join("; ");
    if warnings.len() > MAX_SHOWN_WARNINGS {
        text.push_str(&format!(
            " (and {} more)",
            warnings.len() - MAX_SHOWN_WARNINGS
        ));
    }
    HeaderValue::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use translate::{JsonBody, Method};

    #[test]
    fn callback_allow_list() {
        let req = |url: &str| UpstreamRequest {
            method: Method::Post,
            resource: "x".into(),
            query: vec![],
            body: Some(JsonBody::of_value(
                &serde_json::json!({ "callback_url": url }),
            )),
            warnings: vec![],
        };
        let hosts = vec!["cb.example.com".to_owned()];
        assert!(check_callback(&req("http://cb.example.com/x"), &hosts, &[]).is_ok());
        assert!(check_callback(&req("http://evil.example.com/x"), &hosts, &[]).is_err());
        assert!(check_callback(&req(""), &hosts, &[]).is_ok());
        assert!(check_callback(&req("http://evil/x"), &[], &[]).is_ok());
    }

    #[test]
    fn warnings_fit_one_header() {
        let w: Vec<String> = (0..5).map(|i| format!("w{i} é")).collect();
        let v = warning_header(&w).map(|v| v.to_str().unwrap_or_default().to_owned());
        assert_eq!(v.as_deref(), Some("w0 ?; w1 ?; w2 ? (and 2 more)"));
    }
}
