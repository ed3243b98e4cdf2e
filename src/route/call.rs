//! The upstream calls of one request: each v3 request is built from scratch (only
//! allow-listed headers, the credentials marked sensitive), sent through the upstream
//! service, timed and counted, and its reply interpreted. The first reply (the call the
//! client asked for) gives the span's `upstream_status` and the legacy `request_id`
//! (the gateway's `X-Bkapi-Request-ID`); follow-up calls (log batches, lookups) do not.

use crate::auth::{self, UpstreamAuth};
use crate::error::ShimError;
use crate::layer::request_id;
use crate::metrics::Metrics;
use crate::translate::envelope::EsbResp;
use crate::translate::{Method, UpstreamRequest};
use crate::upstream::{UpstreamService, reply};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;

/// Everything the upstream calls of one request share.
pub struct Calls {
    /// The upstream service.
    pub upstream: UpstreamService,
    /// Credentials for the gateway.
    pub auth: UpstreamAuth,
    /// The client's `Blueking-Language`, forwarded.
    pub lang: Option<HeaderValue>,
    /// The shim's request id, forwarded as `X-Request-Id`.
    pub request_id: String,
    /// `upstream.headers`.
    pub fixed_headers: Arc<[(HeaderName, HeaderValue)]>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Route name (metric label).
    pub route: &'static str,
    /// The gateway's request id of the first reply.
    pub bkapi_request_id: Option<String>,
    first_done: bool,
}

impl Calls {
    /// Calls for one request.
    pub fn new(
        shared: &super::Shared,
        auth: UpstreamAuth,
        lang: Option<HeaderValue>,
        request_id: String,
        route: &'static str,
    ) -> Calls {
        Calls {
            upstream: shared.upstream.clone(),
            auth,
            lang,
            request_id,
            fixed_headers: shared.fixed_headers.clone(),
            metrics: shared.metrics.clone(),
            route,
            bkapi_request_id: None,
            first_done: false,
        }
    }

    /// Send one v3 request and interpret the reply as a bk-job `EsbResp`; with
    /// `typed_status`, a status reply's `data` is read into the typed status when it can
    /// be ([`reply::interpret_for`]).
    pub async fn call(
        &mut self,
        req: &UpstreamRequest,
        typed_status: bool,
    ) -> Result<EsbResp, ShimError> {
        let http_req = self.build(req)?;
        let started = Instant::now();
        let reply = self.upstream.clone().oneshot(http_req).await;
        self.metrics.observe_upstream(self.route, started.elapsed());
        let reply = reply.map_err(|e| {
            self.metrics.upstream_error(e.kind());
            tracing::warn!(error = %e, "upstream exchange failed");
            ShimError::Upstream(e)
        })?;
        if !self.first_done {
            self.first_done = true;
            let span = tracing::Span::current();
            span.record("upstream_status", reply.status);
            if let Some(id) = reply
                .headers
                .get("x-bkapi-request-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| request_id::usable(v))
            {
                span.record("bkapi_request_id", id);
                self.bkapi_request_id = Some(id.to_owned());
            }
        }
        let read = if typed_status {
            reply::interpret_for(&req.resource, &reply)
        } else {
            reply::interpret(&reply)
        };
        read.inspect_err(|e| {
            if let ShimError::Upstream(u) = e {
                self.metrics.upstream_error(u.kind());
            } else if reply.status >= 500 {
                self.metrics.upstream_error("status_5xx");
            }
        })
    }

    /// The legacy `request_id`: the gateway's when there was one, else the shim's.
    pub fn legacy_id(&self) -> &str {
        self.bkapi_request_id.as_deref().unwrap_or(&self.request_id)
    }

    /// Build the HTTP request for `req`. Only allow-listed headers are set.
    fn build(&self, req: &UpstreamRequest) -> Result<Request<Bytes>, ShimError> {
        let body = match (&req.method, &req.body) {
            (Method::Post, Some(b)) => Bytes::from(b.clone().into_bytes()),
            (Method::Post, None) => Bytes::from_static(b"{}"),
            (Method::Get, _) => Bytes::new(),
        };
        let len = body.len();
        let mut r = Request::new(body);
        *r.method_mut() = match req.method {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
        };
        *r.uri_mut() = self.uri(req)?;
        self.set_headers(r.headers_mut(), req.method, len)?;
        Ok(r)
    }

    /// `/api/v3/[system/]{resource}[?query]`.
    fn uri(&self, req: &UpstreamRequest) -> Result<http::Uri, ShimError> {
        let resource = if self.auth.system_api {
            format!("system/{}", req.resource)
        } else {
            req.resource.clone()
        };
        let mut uri = format!("/api/v3/{resource}");
        let qs = req.query_string();
        if !qs.is_empty() {
            uri.push('?');
            uri.push_str(&qs);
        }
        uri.parse()
            .map_err(|_| ShimError::NotFound(format!("/api/v3/{resource}")))
    }

    /// The allow-listed headers of an upstream request.
    fn set_headers(&self, h: &mut HeaderMap, method: Method, len: usize) -> Result<(), ShimError> {
        // `from_bytes`: a verbatim incoming header may carry UTF-8 (obs-text is allowed).
        let mut auth = HeaderValue::from_bytes(self.auth.header.as_bytes())
            .map_err(|_| ShimError::BadAuthHeader)?;
        auth.set_sensitive(true);
        h.insert(auth::AUTHORIZATION_HEADER, auth);
        h.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        if method == Method::Post {
            h.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        if let Ok(v) = HeaderValue::from_str(&self.request_id) {
            h.insert("x-request-id", v);
        }
        if let Some(l) = &self.lang {
            h.insert("blueking-language", l.clone());
        }
        if let Some(v) = self
            .auth
            .system_user
            .as_deref()
            .and_then(|u| HeaderValue::from_str(u).ok())
        {
            h.insert("x-bk-username", v);
        }
        for (k, v) in self.fixed_headers.iter() {
            h.insert(k.clone(), v.clone());
        }
        Ok(())
    }
}
