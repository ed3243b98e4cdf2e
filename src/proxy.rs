//! The request pipeline: one legacy call in, one legacy envelope out.
//!
//! Order (DESIGN §1): request id → route and method → inbound JWT (when required) → body
//! (size and time limits) → identify app → allow-list → rate limit → translate (pure) →
//! inject `X-Bkapi-Authorization` → upstream → translate the reply into the legacy
//! envelope. Every failure is a [`ShimError`] turned into a
//! response by `crate::error` in exactly one place ([`Shim::error_response`]).
//!
//! The configuration-dependent parts live in a [`Runtime`] behind an `ArcSwap`: a reload
//! swaps it atomically and a request keeps the `Arc<Runtime>` it started with, so
//! in-flight requests finish on the old configuration.

use crate::auth::{self, AppIdentity, UpstreamAuth};
use crate::config::Config;
use crate::error::{ShimError, UpstreamError};
use crate::jobcache::JobCache;
use crate::metrics::{Metrics, app_label};
use crate::ratelimit::{Decision, RateLimiter};
use crate::stub::StubGateway;
use crate::translate::envelope::{self, EsbResp};
use crate::translate::status::JobExtras;
use crate::translate::{
    self, Credentials, Method, Options, Route, Translated, UpstreamRequest, log, status,
};
use crate::upstream::{Reply, Upstream};
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tracing::{Instrument, field};

/// Response header carrying translation warnings.
pub const WARNING_HEADER: &str = "x-bk-job-shim-warning";

/// Everything that depends on the configuration; rebuilt and swapped on reload.
pub struct Runtime {
    /// The validated configuration.
    pub config: Config,
    /// Where requests go.
    pub upstream: Upstream,
    /// Per-app limiter.
    pub limiter: RateLimiter,
    /// The shim's own app identity (`auth.mode = "app"`).
    pub app: AppIdentity,
    /// App codes that may appear as metric labels.
    pub app_labels: BTreeSet<String>,
    /// Translation options.
    pub options: Options,
    /// Fixed upstream headers, parsed.
    pub fixed_headers: Vec<(HeaderName, HeaderValue)>,
    /// Inbound JWT verification (`auth.jwt.required`).
    pub jwt: Option<crate::jwt::JwtVerifier>,
}

impl Runtime {
    /// Build a runtime from a validated configuration. `env` reads environment variables
    /// (the app secret). `previous` is the runtime being replaced on reload: its limiter
    /// is kept when `[rate_limit]` did not change (a reload must not hand every app a fresh
    /// burst), and its upstream client when `[upstream]` did not.
    pub async fn build(
        config: Config,
        stub: Arc<StubGateway>,
        env: impl Fn(&str) -> Option<String>,
        previous: Option<&Runtime>,
    ) -> Result<Runtime, String> {
        let app = AppIdentity::load(&config.auth, env)?;
        let jwt = crate::jwt::JwtVerifier::from_config(&config.auth.jwt)?;
        let limiter = match previous {
            Some(p) if p.config.rate_limit == config.rate_limit => p.limiter.clone(),
            _ => {
                let rl = &config.rate_limit;
                let built = match rl.backend {
                    crate::ratelimit::Backend::Redis => {
                        // One Redis connection, kept across reloads that keep its settings.
                        let conn = crate::redis_conn::RedisConn::reuse_or_connect(
                            &rl.redis_settings(),
                            &crate::redis_conn::RedisOptions::default(),
                            previous.and_then(|p| p.limiter.redis_conn()),
                        )
                        .map_err(|e| format!("rate limiter: {e}"))?;
                        RateLimiter::with_redis(rl, Default::default(), conn).await
                    }
                    crate::ratelimit::Backend::Local => RateLimiter::new(rl).await,
                };
                built.map_err(|e| format!("rate limiter: {e}"))?
            }
        };
        // Keep the pooled client (and its warm connections) when `[upstream]` is unchanged.
        let upstream = match previous {
            Some(p) if p.config.upstream == config.upstream => p.upstream.clone(),
            _ => Upstream::new(&config.upstream, Some(stub)),
        };
        let mut app_labels: BTreeSet<String> = config.auth.allowed_apps.iter().cloned().collect();
        app_labels.extend(
            config
                .rate_limit
                .rates
                .keys()
                .filter(|k| *k != "__default")
                .cloned(),
        );
        let fixed_headers = config
            .upstream
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    HeaderName::from_bytes(k.as_bytes()).ok()?,
                    HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect();
        let options = Options {
            steps: config.legacy.steps,
        };
        Ok(Runtime {
            config,
            upstream,
            limiter,
            app,
            app_labels,
            options,
            fixed_headers,
            jwt,
        })
    }
}

/// The shim: shared by every connection.
pub struct Shim {
    runtime: ArcSwap<Runtime>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    jobs: JobCache,
    stub: Arc<StubGateway>,
    draining: AtomicBool,
}

/// Per-request facts gathered along the way, for the reply, the log line and metrics.
struct Ctx {
    request_id: String,
    bkapi_request_id: Option<String>,
    route: &'static str,
    app_label: Cow<'static, str>,
    decision: Option<Decision>,
    warnings: Vec<String>,
    upstream_status: Option<u16>,
}

impl Shim {
    /// A shim serving `runtime`.
    pub fn new(runtime: Runtime, metrics: Arc<Metrics>, stub: Arc<StubGateway>) -> Shim {
        // One Redis connection: the limiter's, shared with the job cache.
        let jobs = JobCache::new(
            runtime.config.legacy.job_cache_capacity,
            runtime.config.legacy.job_cache_ttl,
            runtime.limiter.redis_conn().cloned(),
        );
        Shim {
            runtime: ArcSwap::from_pointee(runtime),
            metrics,
            jobs,
            stub,
            draining: AtomicBool::new(false),
        }
    }

    /// The stub gateway shared by in-process `upstream = "stub"` runtimes.
    pub fn stub(&self) -> Arc<StubGateway> {
        self.stub.clone()
    }

    /// The runtime new requests use.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Swap in a new runtime; requests already running keep the old one.
    pub fn swap_runtime(&self, runtime: Runtime) {
        // A reload that changes the Redis settings moves the job cache too.
        self.jobs.set_redis(runtime.limiter.redis_conn().cloned());
        self.runtime.store(Arc::new(runtime));
    }

    /// Mark the shim as draining (readiness fails).
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.metrics.set_draining(true);
    }

    /// True once shutdown began.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Serve one request. Never fails: every error becomes a legacy envelope.
    pub async fn handle<B>(self: Arc<Self>, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let _in_flight = self.metrics.in_flight();
        let rt = self.runtime();
        let request_id = incoming_request_id(req.headers()).unwrap_or_else(mint_request_id);
        let route = Route::from_path(req.uri().path());
        let route_name = route.as_ref().map(Route::name).unwrap_or("unknown");
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            route = route_name,
            app_code = field::Empty,
            upstream_status = field::Empty,
            bkapi_request_id = field::Empty,
            duration_ms = field::Empty,
        );
        let mut ctx = Ctx {
            request_id,
            bkapi_request_id: None,
            route: route_name,
            app_label: Cow::Borrowed("none"),
            decision: None,
            warnings: Vec::new(),
            upstream_status: None,
        };
        let result = self
            .pipeline(&rt, route, req, &mut ctx)
            .instrument(span.clone())
            .await;
        let (response, outcome, code) = match result {
            Ok((body, code)) => {
                let outcome = if code == 0 { "ok" } else { "business_error" };
                (
                    self.json_response(StatusCode::OK, &body, &ctx),
                    outcome,
                    code,
                )
            }
            Err(e) => span.in_scope(|| self.error_response(&rt, &e, &mut ctx)),
        };
        let elapsed = started.elapsed();
        self.metrics
            .observe_request(ctx.route, &ctx.app_label, outcome, code, elapsed);
        span.record("duration_ms", elapsed.as_secs_f64() * 1000.0);
        span.in_scope(|| {
            tracing::info!(
                code,
                outcome,
                status = response.status().as_u16(),
                "request completed"
            )
        });
        response
    }

    async fn pipeline<B>(
        &self,
        rt: &Runtime,
        route: Option<Route>,
        req: Request<B>,
        ctx: &mut Ctx,
    ) -> Result<(Value, i64), ShimError>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let route = route.ok_or_else(|| ShimError::NotFound(shorten(parts.uri.path(), 200)))?;
        let is_get = match parts.method {
            http::Method::POST => false,
            http::Method::GET if route.is_query() => true,
            ref m => return Err(ShimError::MethodNotAllowed(m.to_string())),
        };
        // A caller that must present a JWT and does not never gets its body read.
        let verified = rt
            .jwt
            .as_ref()
            .map(|v| v.verify(&parts.headers))
            .transpose()
            .map_err(ShimError::Jwt)?;
        let server = &rt.config.server;
        let body = tokio::time::timeout(
            server.body_read_timeout,
            read_body(body, &parts.headers, server.max_body_bytes),
        )
        .await
        .map_err(|_| {
            ShimError::BodyRead(format!(
                "the body did not arrive within {:?}",
                server.body_read_timeout
            ))
        })??;
        let query = translate::query::parse_query(parts.uri.query().unwrap_or(""));
        let mut map = if is_get && body.is_empty() {
            query.clone()
        } else {
            translate::parse_body(&body).map_err(|e| self.reject(ctx, e))?
        };
        // Identify the app (header > body > query > cookie) and strip credentials.
        let cookie_allowed = is_get || is_json(&parts.headers);
        let mut caller = auth::identify(&parts.headers, &query, &mut map, cookie_allowed)?;
        if let Some(id) = verified {
            // The verified identity replaces what the caller claims (allow-list, limiter,
            // metrics, and what the gateway is told).
            caller.set_verified(id.app_code, id.username);
        }
        if let Some(a) = &caller.credentials.app_code {
            auth::check_app_code(a)?;
        }
        let app_code = caller.credentials.app_code.clone();
        ctx.app_label = match app_label(app_code.as_deref(), &rt.app_labels) {
            "none" => Cow::Borrowed("none"),
            "other" => Cow::Borrowed("other"),
            configured => Cow::Owned(configured.to_owned()),
        };
        if let Some(a) = &app_code {
            tracing::Span::current().record("app_code", a.as_str());
        }
        let app = app_code.ok_or(ShimError::MissingAppCode)?;
        let allowed = &rt.config.auth.allowed_apps;
        if !allowed.is_empty() && !allowed.contains(&app) {
            return Err(ShimError::AppNotAllowed(app));
        }
        let decision = rt.limiter.check(&app).await;
        if decision.degraded {
            self.metrics.rate_limit_backend_error();
        }
        let allowed_now = decision.allowed;
        let decision_degraded = decision.degraded;
        let retry_after = decision.retry_after_secs.unwrap_or(decision.reset_secs);
        ctx.decision = Some(decision);
        if !allowed_now {
            self.metrics.rate_limited(&ctx.app_label);
            return Err(ShimError::RateLimited {
                app,
                retry_after,
                backend_down: decision_degraded,
            });
        }
        let Translated {
            request,
            steps_dropped,
            ..
        } = translate::translate_request(&route, map, &rt.options)
            .map_err(|e| self.reject(ctx, e))?;
        check_callback(&request, &rt.config.auth.callback_hosts)?;
        if steps_dropped > 0 {
            self.metrics.steps_ignored();
        }
        if !request.warnings.is_empty() {
            tracing::warn!(
                count = request.warnings.len(),
                first = request
                    .warnings
                    .first()
                    .map(String::as_str)
                    .unwrap_or_default(),
                "legacy request changed in translation"
            );
            ctx.warnings.extend(request.warnings.iter().cloned());
        }
        let auth = auth::upstream_auth(&rt.config.auth, &rt.app, &caller)?;
        let lang = parts.headers.get("blueking-language").cloned();
        let call = Call {
            rt,
            auth: &auth,
            lang,
        };
        match route {
            Route::GetJobInstanceStatus | Route::GetJobInstanceLog => {
                let resp = self.call(&call, &request, ctx).await?;
                if !resp.is_ok() {
                    // bk-job's own errors (unknown job, no permission, …) pass through.
                    let code = resp.code;
                    return Ok((resp.into_legacy(&ctx.legacy_id()), code));
                }
                let data = if route == Route::GetJobInstanceStatus {
                    self.legacy_status(&call, &resp.data, ctx).await?
                } else {
                    match self.legacy_log(&call, &resp.data, ctx).await? {
                        Ok(data) => data,
                        Err(refused) => {
                            let code = refused.code;
                            return Ok((refused.into_legacy(&ctx.legacy_id()), code));
                        }
                    }
                };
                Ok((resp.into_legacy_with(data, &ctx.legacy_id()), 0))
            }
            Route::ExecuteJob
            | Route::FastExecuteScript
            | Route::FastPushFile
            | Route::V3(_)
            | Route::V3Other(_) => {
                let mut resp = self.call(&call, &request, ctx).await?;
                if resp.is_ok() {
                    self.remember_job(&route, &request, &caller.credentials, &resp.data);
                }
                let data = match route {
                    // DESIGN §4.11: execute_job answers {job_instance_name, job_instance_id}.
                    Route::ExecuteJob => {
                        pick(&resp.data, &["job_instance_name", "job_instance_id"])
                    }
                    _ => std::mem::take(&mut resp.data),
                };
                let code = resp.code;
                Ok((resp.into_legacy_with(data, &ctx.legacy_id()), code))
            }
        }
    }

    fn reject(&self, ctx: &Ctx, e: translate::TranslateError) -> ShimError {
        self.metrics
            .translation_reject(ctx.route, e.reason.as_str());
        ShimError::Translate(e)
    }

    /// Send one v3 request and interpret the reply as a bk-job `EsbResp`.
    async fn call(
        &self,
        call: &Call<'_>,
        req: &UpstreamRequest,
        ctx: &mut Ctx,
    ) -> Result<EsbResp, ShimError> {
        let http_req = build_upstream_request(call, req, &ctx.request_id)?;
        let started = Instant::now();
        let reply = call.rt.upstream.send(http_req).await;
        self.metrics.observe_upstream(ctx.route, started.elapsed());
        let reply = reply.map_err(|e| {
            self.metrics.upstream_error(e.kind());
            tracing::warn!(error = %e, "upstream exchange failed");
            ShimError::Upstream(e)
        })?;
        // The first upstream call of a request (the one the client asked for) gives the
        // status and the gateway request id; follow-up calls (log batches, lookups) do not.
        if ctx.upstream_status.is_none() {
            ctx.upstream_status = Some(reply.status);
            let span = tracing::Span::current();
            span.record("upstream_status", reply.status);
            if let Some(id) = reply
                .headers
                .get("x-bkapi-request-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| incoming_request_id_ok(v))
            {
                span.record("bkapi_request_id", id);
                ctx.bkapi_request_id = Some(id.to_owned());
            }
        }
        interpret(&reply).inspect_err(|e| {
            if let ShimError::Upstream(u) = e {
                self.metrics.upstream_error(u.kind());
            } else if reply.status >= 500 {
                self.metrics.upstream_error("status_5xx");
            }
        })
    }

    /// Legacy `get_job_instance_status` data from the v3 status `data`, with the fields v3
    /// lacks remembered or looked up.
    async fn legacy_status(
        &self,
        call: &Call<'_>,
        status_data: &Value,
        ctx: &mut Ctx,
    ) -> Result<Value, ShimError> {
        let extras = self.extras_for(call, status_data, ctx).await;
        status::to_legacy_status(status_data, &extras, call.rt.config.legacy.tz())
            .map_err(|e| bad_reply(&e))
    }

    /// Legacy `get_job_instance_log` data: the logs of every host of the v3 status `data`,
    /// fetched in batches of ≤ 500 hosts. `Ok(Err(resp))`: bk-job refused a batch, and
    /// its answer is passed on as the request's.
    async fn legacy_log(
        &self,
        call: &Call<'_>,
        status_data: &Value,
        ctx: &mut Ctx,
    ) -> Result<Result<Value, EsbResp>, ShimError> {
        let batches = log::log_batches(status_data);
        // One call per batch, in order: at most 500 hosts each (bk-job's limit).
        let mut logs = Vec::with_capacity(batches.len());
        for batch in batches {
            let r = UpstreamRequest {
                method: Method::Post,
                resource: "batch_get_job_instance_ip_log".into(),
                query: Vec::new(),
                body: Some(batch.body),
                warnings: Vec::new(),
            };
            let part = self.call(call, &r, ctx).await?;
            if !part.is_ok() {
                return Ok(Err(part));
            }
            logs.push(part.data);
        }
        log::to_legacy_log(status_data, &logs, call.rt.config.legacy.tz())
            .map(Ok)
            .map_err(|e| bad_reply(&e))
    }

    /// Extras for a status reply: the job cache, else `get_job_instance_list`, else defaults.
    async fn extras_for(&self, call: &Call<'_>, data: &Value, ctx: &mut Ctx) -> JobExtras {
        let job = &data["job_instance"];
        let Some(id) = job["job_instance_id"].as_i64() else {
            return JobExtras::default();
        };
        let cached = self.jobs.get(id).await;
        if let Some(c) = &cached {
            if c.bk_job_id.is_some() && c.operator.is_some() && c.start_way.is_some() {
                return c.clone();
            }
        }
        let Some(query) = status::job_list_query_from_status(data) else {
            return cached.unwrap_or_default();
        };
        let lookup = UpstreamRequest {
            method: Method::Get,
            resource: "get_job_instance_list".into(),
            query,
            body: None,
            warnings: Vec::new(),
        };
        // `definitive`: JOB answered, so asking again would give the same answer.
        let (found, definitive) = match self.call(call, &lookup, ctx).await {
            Ok(r) if r.is_ok() => (status::extras_from_job_list(&r.data, id), true),
            Ok(r) => {
                tracing::info!(code = r.code, "get_job_instance_list lookup refused");
                (None, true)
            }
            // The gateway refused (permission, not found, …): asking again won't help.
            Err(e @ ShimError::Gateway { code, .. })
                if code != translate::codes::THIRD_PARTY_ERROR =>
            {
                tracing::info!(error = %e, "get_job_instance_list lookup refused by the gateway");
                (None, true)
            }
            Err(e) => {
                tracing::info!(error = %e, "get_job_instance_list lookup failed");
                (None, false)
            }
        };
        let mut merged = cached.unwrap_or_default();
        if let Some(f) = found {
            merged.bk_job_id = merged.bk_job_id.or(f.bk_job_id);
            merged.operator = merged.operator.or(f.operator);
            merged.start_way = merged.start_way.or(f.start_way);
        }
        if definitive {
            // Remember the answer, with the documented fallbacks for what JOB did not
            // tell, so that a client polling this job causes no further lookups. After a
            // transport error the next poll tries again.
            merged.bk_job_id.get_or_insert(status::FALLBACK_BK_JOB_ID);
            merged
                .operator
                .get_or_insert_with(|| status::FALLBACK_OPERATOR.to_owned());
            merged.start_way.get_or_insert(status::FALLBACK_START_WAY);
            self.jobs.put(id, merged.clone());
        }
        merged
    }

    /// Remember a started job for later status calls.
    fn remember_job(
        &self,
        route: &Route,
        req: &UpstreamRequest,
        caller: &Credentials,
        data: &Value,
    ) {
        let resource = match route {
            Route::ExecuteJob | Route::FastExecuteScript | Route::FastPushFile => {
                req.resource.as_str()
            }
            Route::V3(r) => r.name,
            Route::V3Other(_) => return,
            Route::GetJobInstanceStatus | Route::GetJobInstanceLog => return,
        };
        let plan = match resource {
            "execute_job_plan" => req
                .body
                .as_ref()
                .and_then(|b| b.get("job_plan_id"))
                .and_then(Value::as_i64),
            "fast_execute_script" | "fast_transfer_file" | "fast_execute_sql" => Some(-1),
            _ => return,
        };
        let Some(id) = data.get("job_instance_id").and_then(Value::as_i64) else {
            return;
        };
        let extras = JobExtras {
            bk_job_id: plan,
            operator: caller.username.clone(),
            // start_way 2 = API (spec §3.5).
            start_way: Some(2),
        };
        self.jobs.put(id, extras);
    }

    fn json_response(&self, status: StatusCode, body: &Value, ctx: &Ctx) -> Response<Full<Bytes>> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let mut resp = Response::new(Full::new(Bytes::from(bytes)));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
            h.insert("x-request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&ctx.legacy_id()) {
            h.insert("x-bkapi-request-id", v);
        }
        if let Some(d) = &ctx.decision {
            d.insert_headers(h);
        }
        if let Some(v) = warning_header(&ctx.warnings) {
            h.insert(WARNING_HEADER, v);
        }
        resp
    }

    /// The only place a [`ShimError`] becomes a response.
    fn error_response(
        &self,
        rt: &Runtime,
        e: &ShimError,
        ctx: &mut Ctx,
    ) -> (Response<Full<Bytes>>, &'static str, i64) {
        let reply = e.reply(rt.config.legacy.error_status);
        let body = envelope::error(reply.code, &reply.message, &ctx.legacy_id());
        let mut resp = self.json_response(reply.status, &body, ctx);
        let h = resp.headers_mut();
        h.insert("x-bkapi-error-code", HeaderValue::from(reply.code));
        if let Ok(v) = HeaderValue::from_str(&ascii_only(&reply.message)) {
            h.insert("x-bkapi-error-message", v);
        }
        if let Some(s) = reply.retry_after {
            h.insert(http::header::RETRY_AFTER, HeaderValue::from(s));
        }
        if matches!(e, ShimError::BodyTooLarge(_)) {
            // The rest of the body was not read: do not reuse this connection.
            h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        match reply.outcome {
            "upstream_error" => tracing::warn!(code = reply.code, error = %e, "request failed"),
            _ => tracing::info!(code = reply.code, error = %e, "request refused"),
        }
        (resp, reply.outcome, reply.code)
    }
}

impl Ctx {
    /// The legacy `request_id`: the gateway's `X-Bkapi-Request-ID` when there was one,
    /// else the shim's own request id.
    fn legacy_id(&self) -> String {
        self.bkapi_request_id
            .clone()
            .unwrap_or_else(|| self.request_id.clone())
    }
}

/// What every upstream call of one request shares.
struct Call<'a> {
    rt: &'a Runtime,
    auth: &'a UpstreamAuth,
    lang: Option<HeaderValue>,
}

/// Build the HTTP request for `req`. Only allow-listed headers are set.
fn build_upstream_request(
    call: &Call<'_>,
    req: &UpstreamRequest,
    request_id: &str,
) -> Result<Request<Bytes>, ShimError> {
    let resource = if call.auth.system_api {
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
    let body = match (&req.method, &req.body) {
        (Method::Post, Some(b)) => Bytes::from(serde_json::to_vec(b).unwrap_or_default()),
        (Method::Post, None) => Bytes::from_static(b"{}"),
        (Method::Get, _) => Bytes::new(),
    };
    let mut r = Request::new(body.clone());
    *r.method_mut() = match req.method {
        Method::Get => http::Method::GET,
        Method::Post => http::Method::POST,
    };
    *r.uri_mut() = uri
        .parse()
        .map_err(|_| ShimError::NotFound(format!("/api/v3/{resource}")))?;
    let h = r.headers_mut();
    // `from_bytes`: a verbatim incoming header may carry UTF-8 (obs-text is allowed).
    let mut auth = HeaderValue::from_bytes(call.auth.header.as_bytes())
        .map_err(|_| ShimError::BadAuthHeader)?;
    auth.set_sensitive(true);
    h.insert(auth::AUTHORIZATION_HEADER, auth);
    h.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    if req.method == Method::Post {
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    if let Some(l) = &call.lang {
        h.insert("blueking-language", l.clone());
    }
    if let Some(u) = &call.auth.system_user {
        if let Ok(v) = HeaderValue::from_str(u) {
            h.insert("x-bk-username", v);
        }
    }
    for (k, v) in &call.rt.fixed_headers {
        h.insert(k.clone(), v.clone());
    }
    Ok(r)
}

/// Read a reply as a bk-job `EsbResp`, or map the gateway's error (spec §5.4).
fn interpret(reply: &Reply) -> Result<EsbResp, ShimError> {
    let esb = serde_json::from_slice::<Value>(&reply.body)
        .ok()
        .and_then(EsbResp::parse);
    let status = reply.status;
    match esb {
        // APIGW's own errors carry 16xxxxx codes.
        Some(r) if (1_600_000..1_700_000).contains(&r.code) => Err(ShimError::from_gateway(
            status,
            Some(r.code),
            r.message.as_deref().unwrap_or(""),
        )),
        Some(r) if (200..300).contains(&status) => Ok(r),
        // bk-job's MissingParameterException answers HTTP 400 with an EsbResp.
        Some(r) if status == 400 && r.code != 0 => Ok(r),
        // bk-job's job-gateway answers 401 when it cannot establish the user (issue #2889).
        Some(r) if status == 401 => Err(ShimError::Gateway {
            code: translate::codes::THIRD_PARTY_ERROR,
            message: format!(
                "JOB rejected the caller's identity (HTTP 401, code {}: {}); check bk_token / bk_username",
                r.code,
                r.message.unwrap_or_default()
            ),
            status,
        }),
        Some(r) => Err(ShimError::from_gateway(
            status,
            None,
            r.message.as_deref().unwrap_or(""),
        )),
        None if (200..300).contains(&status) => Err(ShimError::Upstream(UpstreamError::BadBody(
            format!("{} bytes that are not a JOB envelope", reply.body.len()),
        ))),
        None if status >= 500 || status == 401 => {
            Err(ShimError::Upstream(UpstreamError::Status(status)))
        }
        None => Err(ShimError::from_gateway(status, None, "")),
    }
}

fn bad_reply(e: &translate::TranslateError) -> ShimError {
    ShimError::Upstream(UpstreamError::BadBody(e.to_string()))
}

/// Keep only `keys` of an object (others → dropped); non-objects pass unchanged.
fn pick(data: &Value, keys: &[&str]) -> Value {
    match data {
        Value::Object(m) => Value::Object(
            keys.iter()
                .filter_map(|k| m.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Enforce `auth.callback_hosts` on the translated body.
fn check_callback(req: &UpstreamRequest, hosts: &[String]) -> Result<(), ShimError> {
    if hosts.is_empty() {
        return Ok(());
    }
    let Some(url) = req
        .body
        .as_ref()
        .and_then(|b| b.get("callback_url"))
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
    else {
        return Ok(());
    };
    let host = url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    if hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        Ok(())
    } else {
        Err(ShimError::CallbackNotAllowed(host))
    }
}

/// Read the whole body, refusing more than `max` bytes (by `Content-Length` up front, or
/// while reading).
async fn read_body<B>(body: B, headers: &HeaderMap, max: usize) -> Result<Bytes, ShimError>
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(ShimError::BodyTooLarge(max));
    }
    match Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ShimError::BodyTooLarge(max))
        }
        Err(e) => Err(ShimError::BodyRead(e.to_string())),
    }
}

/// An incoming `X-Request-Id`, if usable.
fn incoming_request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| incoming_request_id_ok(s))
        .map(str::to_owned)
}

/// A request id we are willing to echo and log: 1 to 128 visible ASCII characters.
fn incoming_request_id_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())
}

/// True when the request declares a JSON body.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// Most warnings shown in `X-Bk-Job-Shim-Warning` (one header, however many there are:
/// some HTTP clients fail on responses with over 100 headers).
const MAX_SHOWN_WARNINGS: usize = 3;

/// The single `X-Bk-Job-Shim-Warning` value for `warnings`.
fn warning_header(warnings: &[String]) -> Option<HeaderValue> {
    if warnings.is_empty() {
        return None;
    }
    let mut text = warnings
        .iter()
        .take(MAX_SHOWN_WARNINGS)
        .map(|w| ascii_only(w))
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

/// A new request id: 32 hex characters, like APIGW's `X-Request-ID` (a dash-less UUID).
/// A random 64-bit prefix drawn once per process and a counter: unique across replicas
/// and restarts without a `getrandom` system call on every request.
fn mint_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::AtomicU64;
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix:016x}{n:016x}")
}

/// At most `max` bytes of `s` (on a character boundary), marked when cut: client text
/// echoed in errors and logs stays small.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Replace non-ASCII and control characters so a text fits in a header value.
fn ascii_only(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ErrorStatus;

    #[test]
    fn interpret_maps_gateway_and_job_errors() {
        let reply = |status: u16, body: &str| Reply {
            status,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        };
        let code = |r: Result<EsbResp, ShimError>| match r {
            Ok(r) => r.code,
            Err(e) => e.reply(ErrorStatus::Esb).code,
        };
        assert_eq!(
            code(interpret(&reply(
                200,
                r#"{"code":0,"result":true,"data":{}}"#
            ))),
            0
        );
        assert_eq!(
            code(interpret(&reply(200, r#"{"code":1244012,"result":false}"#))),
            1244012
        );
        assert_eq!(
            code(interpret(&reply(400, r#"{"code":1241004,"result":false}"#))),
            1241004
        );
        assert_eq!(
            code(interpret(&reply(
                400,
                r#"{"code":1640001,"result":false,"message":"x"}"#
            ))),
            1306000
        );
        assert_eq!(
            code(interpret(&reply(403, r#"{"code":1640301,"result":false}"#))),
            1306403
        );
        assert_eq!(
            code(interpret(&reply(429, r#"{"code":1642903,"result":false}"#))),
            1306429
        );
        assert_eq!(
            code(interpret(&reply(404, r#"{"code":1640401,"result":false}"#))),
            1306404
        );
        assert_eq!(code(interpret(&reply(502, "bad gateway"))), 1306201);
        assert_eq!(code(interpret(&reply(200, "<html>"))), 1306201);
        assert_eq!(
            code(interpret(&reply(401, r#"{"code":1247002,"result":false}"#))),
            1306201
        );
    }

    #[test]
    fn minted_request_ids_are_32_hex_and_unique() {
        let a = mint_request_id();
        let b = mint_request_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(a[..16], b[..16], "same process prefix");
    }

    #[test]
    fn shorten_cuts_on_char_boundaries() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("中文字", 4), "中…");
    }

    #[test]
    fn callback_allow_list() {
        let req = |url: &str| UpstreamRequest {
            method: Method::Post,
            resource: "x".into(),
            query: vec![],
            body: Some(serde_json::json!({ "callback_url": url })),
            warnings: vec![],
        };
        let hosts = vec!["cb.example.com".to_owned()];
        assert!(check_callback(&req("http://cb.example.com/x"), &hosts).is_ok());
        assert!(check_callback(&req("http://evil.example.com/x"), &hosts).is_err());
        assert!(check_callback(&req(""), &hosts).is_ok());
        assert!(check_callback(&req("http://evil/x"), &[]).is_ok());
    }
}
