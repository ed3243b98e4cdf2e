//! Prometheus metrics of the shim, served as text on the admin listener's `/metrics`.
//!
//! One [`Metrics`] value owns its own [`prometheus::Registry`] (no process-global state, so
//! tests can build as many as they like in parallel). It is created once in `main`, shared
//! as `Arc<Metrics>`, and rendered with [`Metrics::render`].
//!
//! Conventions: every name starts with `bk_job_shim_`, durations are in seconds, counters
//! end in `_total`. Labels are bounded: `route` is the route *name* (never the raw path),
//! `app_code` is an app code named in the config or `other` / `none` (see [`app_label`]),
//! `outcome`, `kind` and `result` take the fixed values listed below (anything else is
//! recorded as `other`).
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `bk_job_shim_build_info` | gauge | `version` | always 1; the running version |
//! | `bk_job_shim_requests_total` | counter | `route`, `app_code`, `outcome`, `code` | legacy requests answered. `outcome` ∈ `ok`, `business_error`, `rejected`, `rate_limited`, `upstream_error`, `denied`; `code` is the legacy code sent to the client (`0` = ok; codes outside the known families are `other`) |
//! | `bk_job_shim_request_duration_seconds` | histogram | `route` | time from the request arriving to its response being ready, whole shim (includes upstream time) |
//! | `bk_job_shim_upstream_duration_seconds` | histogram | `route` | time of the upstream (JOB v3 gateway) exchange only |
//! | `bk_job_shim_upstream_errors_total` | counter | `kind` | failed upstream exchanges; `kind` ∈ `connect`, `timeout`, `reset`, `status_5xx`, `status_4xx`, `bad_body`, `tls` (certificate, name, validity, client certificate, handshake), `proxy` (egress proxy unreachable or refused CONNECT) |
//! | `bk_job_shim_rate_limited_total` | counter | `app_code` | requests refused by the per-app rate limit |
//! | `bk_job_shim_rate_limit_backend_errors_total` | counter | — | rate-limit backend (Redis) failures; the request was then let through or refused per `rate_limit.fail_open` |
//! | `bk_job_shim_translation_rejects_total` | counter | `route`, `reason` | legacy bodies that could not be translated to v3 |
//! | `bk_job_shim_steps_ignored_total` | counter | — | legacy `steps` dropped because `legacy.steps = "ignore"` |
//! | `bk_job_shim_in_flight_requests` | gauge | — | requests being handled right now |
//! | `bk_job_shim_config_reloads_total` | counter | `result` | config reloads; `result` ∈ `ok`, `error` |
//! | `bk_job_shim_config_last_reload_successful` | gauge | — | 1 if the last config (re)load succeeded, 0 if the running config is older than the file |
//! | `bk_job_shim_config_last_reload_success_timestamp_seconds` | gauge | — | Unix time of the last successful config (re)load (startup counts) |
//! | `bk_job_shim_draining` | gauge | — | 1 while shutting down (readiness is 503), else 0 |
//!
//! Registration never panics: a metric that cannot be created or registered is logged with
//! `tracing::warn!` and then silently not recorded.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// Histogram buckets (seconds) for both request and upstream durations: fine resolution
/// around the shim's own sub-millisecond overhead, up to the 60 s default upstream timeout.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// Known request outcomes (the `outcome` label of `bk_job_shim_requests_total`).
const OUTCOMES: &[&str] = &[
    "ok",
    "business_error",
    "rejected",
    "rate_limited",
    "upstream_error",
    "denied",
];

/// The `code` label: codes from the known families (success, ESB `1306xxx`, bk-job
/// `124xxxx`, IAM `9900403` / `1238001`), anything else `other`, so that an upstream
/// inventing codes cannot create unbounded series.
fn code_label(code: i64) -> String {
    let known = code == 0
        || (1_306_000..1_307_000).contains(&code)
        || (1_240_000..1_250_000).contains(&code)
        || code == 9_900_403
        || code == 1_238_001;
    if known {
        code.to_string()
    } else {
        "other".to_owned()
    }
}

/// Known upstream error kinds (the `kind` label of `bk_job_shim_upstream_errors_total`).
const UPSTREAM_ERROR_KINDS: &[&str] = &[
    "connect",
    "timeout",
    "reset",
    "status_5xx",
    "status_4xx",
    "bad_body",
    "tls",
    "proxy",
];

/// Label value used for app codes not named in the config, and for unknown enum values.
const OTHER: &str = "other";
/// Label value used when the request carried no app code at all.
const NONE: &str = "none";

/// All metrics of one shim process, in an owned registry. Share it as `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    requests: Option<IntCounterVec>,
    request_duration: Option<HistogramVec>,
    upstream_duration: Option<HistogramVec>,
    upstream_errors: Option<IntCounterVec>,
    rate_limited: Option<IntCounterVec>,
    rate_limit_backend_errors: Option<IntCounter>,
    translation_rejects: Option<IntCounterVec>,
    steps_ignored: Option<IntCounter>,
    in_flight: Option<IntGauge>,
    config_reloads: Option<IntCounterVec>,
    config_last_reload_successful: Option<IntGauge>,
    config_last_reload_success_timestamp: Option<Gauge>,
    draining: Option<IntGauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Registers `collector` in `registry`, returning it on success; logs and returns `None`
/// on failure (creation error passed in as `Err`, or registration error).
fn register<C>(registry: &Registry, name: &str, collector: prometheus::Result<C>) -> Option<C>
where
    C: Collector + Clone + 'static,
{
    let collector = match collector {
        Ok(c) => c,
        Err(error) => {
            tracing::warn!(metric = name, %error, "cannot create metric; it will not be recorded");
            return None;
        }
    };
    match registry.register(Box::new(collector.clone())) {
        Ok(()) => Some(collector),
        Err(error) => {
            tracing::warn!(metric = name, %error, "cannot register metric; it will not be recorded");
            None
        }
    }
}

fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Option<IntCounterVec> {
    register(
        registry,
        name,
        IntCounterVec::new(Opts::new(name, help), labels),
    )
}

fn counter(registry: &Registry, name: &str, help: &str) -> Option<IntCounter> {
    register(registry, name, IntCounter::with_opts(Opts::new(name, help)))
}

fn int_gauge(registry: &Registry, name: &str, help: &str) -> Option<IntGauge> {
    register(registry, name, IntGauge::with_opts(Opts::new(name, help)))
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Option<Gauge> {
    register(registry, name, Gauge::with_opts(Opts::new(name, help)))
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Option<HistogramVec> {
    register(
        registry,
        name,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec()),
            labels,
        ),
    )
}

/// Increments the child of `vec` with `values`, if both exist.
fn inc(vec: &Option<IntCounterVec>, values: &[&str]) {
    if let Some(vec) = vec {
        match vec.get_metric_with_label_values(values) {
            Ok(c) => c.inc(),
            Err(error) => tracing::debug!(%error, "metric label mismatch"),
        }
    }
}

/// Observes `duration` in the child of `vec` with `values`, if both exist.
fn observe(vec: &Option<HistogramVec>, values: &[&str], duration: Duration) {
    if let Some(vec) = vec {
        match vec.get_metric_with_label_values(values) {
            Ok(h) => h.observe(duration.as_secs_f64()),
            Err(error) => tracing::debug!(%error, "metric label mismatch"),
        }
    }
}

/// Returns `value` if it is one of `known`, else `"other"` (keeps enum labels bounded).
fn known_or_other<'a>(value: &'a str, known: &[&str]) -> &'a str {
    if known.contains(&value) { value } else { OTHER }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Metrics {
    /// Creates and registers every metric; `version` becomes `bk_job_shim_build_info{version}`.
    ///
    /// Never fails: a metric that cannot be registered is logged and then not recorded.
    /// Counters with a small fixed label set (upstream error kinds, reload results) start
    /// at 0 so that `rate()` and alerts work before the first event.
    pub fn new(version: &str) -> Metrics {
        let registry = Registry::new();
        let r = &registry;

        let build_info = register(
            r,
            "bk_job_shim_build_info",
            IntGaugeVec::new(
                Opts::new(
                    "bk_job_shim_build_info",
                    "Build information of the running shim; always 1.",
                ),
                &["version"],
            ),
        );
        if let Some(g) = build_info.and_then(|v| v.get_metric_with_label_values(&[version]).ok()) {
            g.set(1);
        }

        let metrics = Metrics {
            requests: counter_vec(
                r,
                "bk_job_shim_requests_total",
                "Legacy requests answered, by route name, app code, outcome and legacy code sent.",
                &["route", "app_code", "outcome", "code"],
            ),
            request_duration: histogram_vec(
                r,
                "bk_job_shim_request_duration_seconds",
                "Time to answer a legacy request, whole shim, by route name.",
                &["route"],
            ),
            upstream_duration: histogram_vec(
                r,
                "bk_job_shim_upstream_duration_seconds",
                "Time of the upstream JOB v3 gateway exchange, by route name.",
                &["route"],
            ),
            upstream_errors: counter_vec(
                r,
                "bk_job_shim_upstream_errors_total",
                "Failed upstream exchanges, by kind.",
                &["kind"],
            ),
            rate_limited: counter_vec(
                r,
                "bk_job_shim_rate_limited_total",
                "Requests refused by the per-app rate limit, by app code.",
                &["app_code"],
            ),
            rate_limit_backend_errors: counter(
                r,
                "bk_job_shim_rate_limit_backend_errors_total",
                "Rate-limit backend (Redis) errors.",
            ),
            translation_rejects: counter_vec(
                r,
                "bk_job_shim_translation_rejects_total",
                "Legacy request bodies that could not be translated to v3, by route and reason.",
                &["route", "reason"],
            ),
            steps_ignored: counter(
                r,
                "bk_job_shim_steps_ignored_total",
                "Legacy steps dropped because legacy.steps is \"ignore\".",
            ),
            in_flight: int_gauge(
                r,
                "bk_job_shim_in_flight_requests",
                "Requests being handled right now.",
            ),
            config_reloads: counter_vec(
                r,
                "bk_job_shim_config_reloads_total",
                "Config reloads, by result (ok or error).",
                &["result"],
            ),
            config_last_reload_successful: int_gauge(
                r,
                "bk_job_shim_config_last_reload_successful",
                "1 if the last config (re)load succeeded, 0 if it failed.",
            ),
            config_last_reload_success_timestamp: gauge(
                r,
                "bk_job_shim_config_last_reload_success_timestamp_seconds",
                "Unix time of the last successful config (re)load.",
            ),
            draining: int_gauge(
                r,
                "bk_job_shim_draining",
                "1 while the shim is draining for shutdown, else 0.",
            ),
            registry,
        };

        // Pre-create the fixed children so their series exist (at 0) from the start.
        if let Some(vec) = &metrics.upstream_errors {
            for kind in UPSTREAM_ERROR_KINDS {
                let _ = vec.get_metric_with_label_values(&[kind]);
            }
        }
        if let Some(vec) = &metrics.config_reloads {
            for result in ["ok", "error"] {
                let _ = vec.get_metric_with_label_values(&[result]);
            }
        }
        // The config the process started with was loaded successfully.
        if let Some(g) = &metrics.config_last_reload_successful {
            g.set(1);
        }
        if let Some(g) = &metrics.config_last_reload_success_timestamp {
            g.set(unix_now());
        }
        if let Some(g) = &metrics.draining {
            g.set(0);
        }
        metrics
    }

    /// Renders every metric in the Prometheus text exposition format (version 0.0.4).
    ///
    /// On an encoding error (not expected) it logs and returns what was rendered so far.
    pub fn render(&self) -> String {
        let families = self.registry.gather();
        let mut buf = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&families, &mut buf) {
            tracing::warn!(%error, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }

    /// Records one answered legacy request: `bk_job_shim_requests_total{route, app_code,
    /// outcome, code}` and `bk_job_shim_request_duration_seconds{route}`.
    ///
    /// `app_code` must already be bounded with [`app_label`]; an `outcome` outside the
    /// documented set is recorded as `other`. `code` is the legacy code sent to the client.
    pub fn observe_request(
        &self,
        route: &str,
        app_code: &str,
        outcome: &str,
        code: i64,
        duration: Duration,
    ) {
        let outcome = known_or_other(outcome, OUTCOMES);
        let code = code_label(code);
        inc(&self.requests, &[route, app_code, outcome, &code]);
        observe(&self.request_duration, &[route], duration);
    }

    /// Records the duration of one upstream exchange:
    /// `bk_job_shim_upstream_duration_seconds{route}`.
    pub fn observe_upstream(&self, route: &str, duration: Duration) {
        observe(&self.upstream_duration, &[route], duration);
    }

    /// Counts one failed upstream exchange: `bk_job_shim_upstream_errors_total{kind}`.
    ///
    /// `kind` is one of `connect`, `timeout`, `reset`, `status_5xx`, `status_4xx`,
    /// `bad_body`, `tls`, `proxy`; anything else is recorded as `other`.
    pub fn upstream_error(&self, kind: &str) {
        inc(
            &self.upstream_errors,
            &[known_or_other(kind, UPSTREAM_ERROR_KINDS)],
        );
    }

    /// Counts one rate-limited request: `bk_job_shim_rate_limited_total{app_code}`.
    /// `app_code` must already be bounded with [`app_label`].
    pub fn rate_limited(&self, app_code: &str) {
        inc(&self.rate_limited, &[app_code]);
    }

    /// Counts one rate-limit backend failure: `bk_job_shim_rate_limit_backend_errors_total`.
    pub fn rate_limit_backend_error(&self) {
        if let Some(c) = &self.rate_limit_backend_errors {
            c.inc();
        }
    }

    /// Counts one untranslatable legacy body:
    /// `bk_job_shim_translation_rejects_total{route, reason}`. `reason` must come from a
    /// fixed set chosen by the code (never client input).
    pub fn translation_reject(&self, route: &str, reason: &str) {
        inc(&self.translation_rejects, &[route, reason]);
    }

    /// Counts one request whose legacy `steps` were dropped:
    /// `bk_job_shim_steps_ignored_total`.
    pub fn steps_ignored(&self) {
        if let Some(c) = &self.steps_ignored {
            c.inc();
        }
    }

    /// Increments `bk_job_shim_in_flight_requests` now; the returned guard decrements it
    /// when dropped. Hold it for the whole life of the request.
    #[must_use = "the in-flight gauge is decremented as soon as the guard is dropped"]
    pub fn in_flight(&self) -> InFlightGuard {
        let gauge = self.in_flight.clone();
        if let Some(g) = &gauge {
            g.inc();
        }
        InFlightGuard { gauge }
    }

    /// Records a config reload: `bk_job_shim_config_reloads_total{result="ok"|"error"}`,
    /// `bk_job_shim_config_last_reload_successful`, and on success
    /// `bk_job_shim_config_last_reload_success_timestamp_seconds`.
    pub fn config_reload(&self, ok: bool) {
        inc(&self.config_reloads, &[if ok { "ok" } else { "error" }]);
        if let Some(g) = &self.config_last_reload_successful {
            g.set(i64::from(ok));
        }
        if let (true, Some(g)) = (ok, &self.config_last_reload_success_timestamp) {
            g.set(unix_now());
        }
    }

    /// Sets `bk_job_shim_draining` to 1 (draining for shutdown) or 0.
    pub fn set_draining(&self, draining: bool) {
        if let Some(g) = &self.draining {
            g.set(i64::from(draining));
        }
    }
}

/// Keeps `bk_job_shim_in_flight_requests` incremented while alive; see [`Metrics::in_flight`].
#[derive(Debug)]
pub struct InFlightGuard {
    gauge: Option<IntGauge>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Some(g) = &self.gauge {
            g.dec();
        }
    }
}

/// The `app_code` label value for a request: the app code itself only if it is named in
/// the config (`configured` = `auth.allowed_apps` ∪ the keys of `rate_limit.rates` other
/// than `__default`), `"other"` for any other app code, `"none"` if there is none.
///
/// This keeps label cardinality bounded by the config, whatever clients send.
pub fn app_label<'a>(app_code: Option<&'a str>, configured: &BTreeSet<String>) -> &'a str {
    match app_code {
        None => NONE,
        Some(code) if configured.contains(code) => code,
        Some(_) => OTHER,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn configured(codes: &[&str]) -> BTreeSet<String> {
        codes.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Value of the first sample line starting with `series` (name + labels), if any.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map(|v| v.parse().unwrap())
    }

    #[test]
    fn app_label_only_passes_configured_codes() {
        let set = configured(&["bk_sops", "ops-portal"]);
        assert_eq!(app_label(Some("bk_sops"), &set), "bk_sops");
        assert_eq!(app_label(Some("ops-portal"), &set), "ops-portal");
        assert_eq!(app_label(Some("attacker-123"), &set), "other");
        assert_eq!(app_label(Some(""), &set), "other");
        assert_eq!(app_label(None, &set), "none");
        assert_eq!(app_label(Some("bk_sops"), &BTreeSet::new()), "other");
    }

    #[test]
    fn random_app_codes_do_not_grow_series() {
        let m = Metrics::new("test");
        let set = configured(&["known"]);
        for i in 0..1000 {
            let code = format!("random-{i}");
            let app = app_label(Some(&code), &set);
            m.observe_request(
                "fast_execute_script",
                app,
                "ok",
                0,
                Duration::from_millis(1),
            );
            m.rate_limited(app);
        }
        let out = m.render();
        let series = out
            .lines()
            .filter(|l| l.starts_with("bk_job_shim_requests_total{"))
            .count();
        assert_eq!(series, 1, "{out}");
        assert_eq!(
            sample(
                &out,
                r#"bk_job_shim_requests_total{app_code="other",code="0",outcome="ok",route="fast_execute_script"}"#
            ),
            Some(1000.0)
        );
        assert_eq!(
            sample(&out, r#"bk_job_shim_rate_limited_total{app_code="other"}"#),
            Some(1000.0)
        );
    }

    #[test]
    fn unknown_enum_values_become_other() {
        let m = Metrics::new("test");
        m.observe_request("r", "none", "made-up", 1, Duration::ZERO);
        m.upstream_error("weird");
        let out = m.render();
        assert!(out.contains(r#"outcome="other""#), "{out}");
        assert_eq!(
            sample(&out, r#"bk_job_shim_upstream_errors_total{kind="other"}"#),
            Some(1.0)
        );
    }

    #[test]
    fn in_flight_guard_increments_and_decrements() {
        let m = Metrics::new("test");
        let g = |m: &Metrics| sample(&m.render(), "bk_job_shim_in_flight_requests").unwrap();
        assert_eq!(g(&m), 0.0);
        let a = m.in_flight();
        let b = m.in_flight();
        assert_eq!(g(&m), 2.0);
        drop(a);
        assert_eq!(g(&m), 1.0);
        drop(b);
        assert_eq!(g(&m), 0.0);
    }

    #[test]
    fn render_contains_every_series() {
        let m = Metrics::new("1.2.3");
        m.observe_request(
            "get_job_instance_status",
            "bk_sops",
            "business_error",
            1_306_102,
            Duration::from_millis(3),
        );
        m.observe_upstream("get_job_instance_status", Duration::from_millis(2));
        m.upstream_error("timeout");
        m.rate_limited("bk_sops");
        m.rate_limit_backend_error();
        m.translation_reject("fast_execute_script", "bad_ip_list");
        m.steps_ignored();
        m.config_reload(true);
        m.config_reload(false);
        m.set_draining(true);
        let _guard = m.in_flight();
        let out = m.render();

        for (series, value) in [
            (r#"bk_job_shim_build_info{version="1.2.3"}"#, 1.0),
            (
                r#"bk_job_shim_requests_total{app_code="bk_sops",code="1306102",outcome="business_error",route="get_job_instance_status"}"#,
                1.0,
            ),
            (
                r#"bk_job_shim_request_duration_seconds_bucket{route="get_job_instance_status",le="0.0025"}"#,
                0.0,
            ),
            (
                r#"bk_job_shim_request_duration_seconds_bucket{route="get_job_instance_status",le="0.005"}"#,
                1.0,
            ),
            (
                r#"bk_job_shim_request_duration_seconds_count{route="get_job_instance_status"}"#,
                1.0,
            ),
            (
                r#"bk_job_shim_upstream_duration_seconds_count{route="get_job_instance_status"}"#,
                1.0,
            ),
            (r#"bk_job_shim_upstream_errors_total{kind="timeout"}"#, 1.0),
            (r#"bk_job_shim_upstream_errors_total{kind="connect"}"#, 0.0),
            (r#"bk_job_shim_rate_limited_total{app_code="bk_sops"}"#, 1.0),
            ("bk_job_shim_rate_limit_backend_errors_total", 1.0),
            (
                r#"bk_job_shim_translation_rejects_total{reason="bad_ip_list",route="fast_execute_script"}"#,
                1.0,
            ),
            ("bk_job_shim_steps_ignored_total", 1.0),
            ("bk_job_shim_in_flight_requests", 1.0),
            (r#"bk_job_shim_config_reloads_total{result="ok"}"#, 1.0),
            (r#"bk_job_shim_config_reloads_total{result="error"}"#, 1.0),
            ("bk_job_shim_config_last_reload_successful", 0.0),
            ("bk_job_shim_draining", 1.0),
        ] {
            assert_eq!(sample(&out, series), Some(value), "{series} in\n{out}");
        }
        let ts = sample(
            &out,
            "bk_job_shim_config_last_reload_success_timestamp_seconds",
        )
        .unwrap();
        assert!(ts > 1.5e9, "{ts}");
    }

    #[test]
    fn fresh_metrics_have_zeroed_fixed_series() {
        let out = Metrics::new("x").render();
        for kind in UPSTREAM_ERROR_KINDS {
            let series = format!(r#"bk_job_shim_upstream_errors_total{{kind="{kind}"}}"#);
            assert_eq!(sample(&out, &series), Some(0.0), "{series}");
        }
        assert_eq!(sample(&out, "bk_job_shim_draining"), Some(0.0));
        assert_eq!(
            sample(&out, "bk_job_shim_config_last_reload_successful"),
            Some(1.0)
        );
        assert_eq!(
            sample(&out, r#"bk_job_shim_config_reloads_total{result="error"}"#),
            Some(0.0)
        );
    }

    /// The module doc table is the metric catalogue (the README copies it and
    /// `.ci/check-deploy` checks dashboard and alert queries against it): it must list
    /// exactly the registered families, with their types and label names.
    #[test]
    fn module_doc_table_matches_the_registry() {
        let m = Metrics::new("x");
        m.observe_request("r", "none", "ok", 0, Duration::ZERO);
        m.observe_upstream("r", Duration::ZERO);
        m.rate_limited("none");
        m.translation_reject("r", "x");

        let doc: BTreeMap<String, (String, Vec<String>)> = include_str!("metrics.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! | `bk_job_shim_"))
            .map(|row| {
                let cells: Vec<&str> = row.split(" | ").collect();
                let name = format!("bk_job_shim_{}", cells[0].trim_end_matches('`'));
                let mut labels: Vec<String> = cells[2]
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect();
                labels.sort();
                (name, (cells[1].to_owned(), labels))
            })
            .collect();

        let registry: BTreeMap<String, (String, Vec<String>)> = m
            .registry
            .gather()
            .iter()
            .map(|f| {
                let kind = format!("{:?}", f.get_field_type()).to_lowercase();
                let mut labels: Vec<String> = f.get_metric()[0]
                    .get_label()
                    .iter()
                    .map(|l| l.name().to_owned())
                    .collect();
                labels.sort();
                (f.name().to_owned(), (kind, labels))
            })
            .collect();
        assert_eq!(registry.len(), 14, "{registry:?}");
        assert_eq!(doc, registry, "module doc table (left) vs registry (right)");
    }

    #[test]
    fn separate_instances_do_not_share_state() {
        let a = Metrics::new("a");
        let b = Metrics::new("b");
        a.steps_ignored();
        assert_eq!(
            sample(&a.render(), "bk_job_shim_steps_ignored_total"),
            Some(1.0)
        );
        assert_eq!(
            sample(&b.render(), "bk_job_shim_steps_ignored_total"),
            Some(0.0)
        );
    }

    #[test]
    fn code_label_is_bounded() {
        assert_eq!(code_label(0), "0");
        assert_eq!(code_label(1_306_429), "1306429");
        assert_eq!(code_label(1_244_012), "1244012");
        assert_eq!(code_label(9_900_403), "9900403");
        assert_eq!(code_label(123_456_789), "other");
        assert_eq!(code_label(-5), "other");
    }
}
