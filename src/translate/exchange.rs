//! Sans-IO exchanges: a legacy call that needs one or more v3 calls, written as a state
//! machine that emits the next [`UpstreamRequest`] and consumes each reply until it yields
//! the legacy reply.
//!
//! The serving side only *drives* exchanges: it sends what [`Step::Call`] asks for, feeds
//! the outcome back with [`Exchange::resume`], and answers the client once a final step
//! ([`Step::Done`], [`Step::PassOn`], [`Step::Abort`], [`Step::Fail`]) comes out. Nothing
//! here does I/O, so every exchange is unit-tested with [`drive`] and a closure standing in
//! for the gateway.
//!
//! * [`Single`]: one v3 call and a reply mapping (most calls).
//! * [`Pager`]: the rows of a v3 list call, page by page (`length` ≤ [`MAX_PAGE`]), up to a
//!   configurable ceiling past which the client gets a clear error, never a silent cut.

use super::codes;
use super::data::Data;
use super::envelope::EsbResp;
use super::status::JobExtras;
use super::{JsonBody, Method, TranslateError, UpstreamRequest};
use serde_json::{Map, Value};

/// Largest `length` bk-job's v3 list calls accept (`EsbAccountResourceV3Impl`,
/// `EsbPlanV3ResourceImpl`: 1000).
pub const MAX_PAGE: usize = 1000;

/// Default ceiling on the rows one legacy "all rows" answer may gather.
pub const DEFAULT_MAX_ROWS: usize = 10_000;

/// Upper bound on the v3 calls one exchange may ask for (a guard for [`drive`] and the
/// serving driver; real exchanges stay far below it).
pub const MAX_CALLS: usize = 2_000;

/// What came back from one v3 call.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// bk-job answered (success or its own refusal, e.g. no permission).
    Reply(EsbResp),
    /// No bk-job answer: the gateway refused, the upstream was unreachable or replied with
    /// garbage. `definitive` is true when asking again would give the same answer (a
    /// gateway refusal), false for transport failures.
    Failed {
        /// Asking again would not help.
        definitive: bool,
    },
}

/// A finished legacy reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// The legacy `data`.
    pub data: Data,
    /// Remarks for the `X-Bk-Job-Shim-Warning` header (information v3 lost).
    pub warnings: Vec<String>,
    /// Job facts the driver should remember for later status calls (job instance id and
    /// what is known of it); set by the status exchanges.
    pub remember: Option<(i64, JobExtras)>,
}

impl Finished {
    /// A reply without warnings.
    pub fn data(data: impl Into<Data>) -> Self {
        Self {
            data: data.into(),
            warnings: Vec::new(),
            remember: None,
        }
    }
}

/// A legacy error made by the shim (not by bk-job or the gateway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The request cannot be answered as asked (e.g. more rows than the ceiling):
    /// `1306406`, naming the field.
    Rejected(TranslateError),
    /// bk-job answered something that is not the documented shape: `1306201`.
    BadReply(TranslateError),
    /// The exchange was misused (a bug): `1306000`.
    Internal(&'static str),
}

impl CallError {
    /// bk-job answered something that is not the documented shape.
    pub fn bad_reply(e: &TranslateError) -> Self {
        CallError::BadReply(e.clone())
    }

    /// The legacy code.
    pub fn code(&self) -> i64 {
        match self {
            CallError::Rejected(_) => codes::ARGUMENT_ERROR,
            CallError::BadReply(_) => codes::THIRD_PARTY_ERROR,
            CallError::Internal(_) => codes::COMMON_ERROR,
        }
    }

    /// The legacy message (never contains secrets).
    pub fn message(&self) -> String {
        match self {
            CallError::Rejected(e) => e.message(),
            CallError::BadReply(e) => format!("JOB v3 returned an unexpected reply: {e}"),
            CallError::Internal(what) => format!("internal error of the shim: {what}"),
        }
    }
}

/// The next thing an exchange wants.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this v3 request, then call [`Exchange::resume`] with its outcome.
    Call(UpstreamRequest),
    /// The legacy reply (success).
    Done(Finished),
    /// bk-job refused one of the calls: its answer is the client's answer.
    PassOn(EsbResp),
    /// The last call failed without a bk-job answer: that failure is the client's answer.
    Abort,
    /// The shim's own legacy error.
    Fail(CallError),
}

/// A legacy call as a sans-IO state machine.
pub trait Exchange: Send {
    /// The first step (usually the first v3 request).
    fn start(&mut self) -> Step;
    /// Consume the outcome of the request of the last [`Step::Call`].
    fn resume(&mut self, outcome: Outcome) -> Step;
    /// Whether a successful `get_job_instance_status` reply may be handed to
    /// [`Exchange::resume`] with its `data` already read into the typed status
    /// ([`EsbResp::status`], `data` then null). Only the polling exchanges read it so;
    /// every other exchange (the `jobv3` pass-through among them) gets `data` as a tree.
    fn reads_typed_status(&self) -> bool {
        false
    }
}

/// An exchange handed from translation to the handler that drives it (shared, taken once).
#[derive(Clone)]
pub struct PendingExchange(std::sync::Arc<std::sync::Mutex<Option<Box<dyn Exchange>>>>);

impl PendingExchange {
    /// Wrap an exchange whose first step was already taken.
    pub fn new(ex: Box<dyn Exchange>) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(Some(ex))))
    }

    /// Take the exchange (once).
    pub fn take(&self) -> Option<Box<dyn Exchange>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl std::fmt::Debug for PendingExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingExchange")
    }
}

impl PartialEq for PendingExchange {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The `data` of a successful reply, or the final step to take for any other outcome
/// (bk-job's refusal passed on, a failure aborts).
pub fn ok_data(outcome: Outcome) -> Result<Value, Step> {
    match outcome {
        Outcome::Reply(r) if r.is_ok() => Ok(r.data),
        Outcome::Reply(r) => Err(Step::PassOn(r)),
        Outcome::Failed { .. } => Err(Step::Abort),
    }
}

/// A reply mapping: v3 `data` → legacy reply.
pub type MapReply = Box<dyn FnOnce(Value) -> Result<Finished, TranslateError> + Send>;

/// One v3 call and a mapping of its `data`.
pub struct Single {
    request: Option<UpstreamRequest>,
    map: Option<MapReply>,
}

impl Single {
    /// Send `request`, map the successful `data` with `map`.
    pub fn new(request: UpstreamRequest, map: MapReply) -> Self {
        Self {
            request: Some(request),
            map: Some(map),
        }
    }

    /// Send `request` and answer its `data` unchanged (with the request's warnings).
    pub fn passthrough(request: UpstreamRequest) -> Self {
        let warnings = request.warnings.clone();
        Self::new(
            request,
            Box::new(move |data| {
                Ok(Finished {
                    data: Data::Tree(data),
                    warnings,
                    remember: None,
                })
            }),
        )
    }
}

impl Exchange for Single {
    fn start(&mut self) -> Step {
        match self.request.take() {
            Some(r) => Step::Call(r),
            None => Step::Fail(CallError::Internal("exchange started twice")),
        }
    }

    fn resume(&mut self, outcome: Outcome) -> Step {
        let data = match ok_data(outcome) {
            Ok(d) => d,
            Err(step) => return step,
        };
        match self.map.take() {
            Some(map) => match map(data) {
                Ok(f) => Step::Done(f),
                Err(e) => Step::Fail(CallError::bad_reply(&e)),
            },
            None => Step::Fail(CallError::Internal("exchange resumed after it finished")),
        }
    }
}

/// Drive an exchange to its end with `upstream` answering each request in order; returns
/// the requests sent and the final step. For tests, the offline `translate` command and
/// golden fixtures. Stops with a [`Step::Fail`] after [`MAX_CALLS`] requests.
pub fn drive(
    ex: &mut dyn Exchange,
    mut upstream: impl FnMut(&UpstreamRequest) -> Outcome,
) -> (Vec<UpstreamRequest>, Step) {
    let mut sent = Vec::new();
    let mut step = ex.start();
    while let Step::Call(req) = step {
        if sent.len() >= MAX_CALLS {
            return (
                sent,
                Step::Fail(CallError::Internal("too many upstream calls")),
            );
        }
        let outcome = upstream(&req);
        sent.push(req);
        step = ex.resume(outcome);
    }
    (sent, step)
}

/// A GET request for `resource` with `query`.
pub fn get(resource: &str, query: Vec<(String, String)>) -> UpstreamRequest {
    UpstreamRequest {
        method: Method::Get,
        resource: resource.to_owned(),
        query,
        body: None,
        warnings: Vec::new(),
    }
}

/// A POST request for `resource` with a JSON `body`.
pub fn post(resource: &str, body: Value) -> UpstreamRequest {
    UpstreamRequest {
        method: Method::Post,
        resource: resource.to_owned(),
        query: Vec::new(),
        body: Some(JsonBody::of_value(&body)),
        warnings: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Paging
// ---------------------------------------------------------------------------------------

/// Which rows of a list the legacy caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First row (0-based).
    pub start: usize,
    /// How many rows; `None` for every row from `start` (v2's "no length").
    pub length: Option<usize>,
}

/// Bounds of paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Ceiling on the rows one answer may gather.
    pub max_rows: usize,
    /// `length` of each v3 call (1..=[`MAX_PAGE`]).
    pub page_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_rows: DEFAULT_MAX_ROWS,
            page_len: MAX_PAGE,
        }
    }
}

/// `[paging]`: how the legacy "every row" list calls page through v3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PagingConfig {
    /// Ceiling on the rows of one answer; past it the client gets `1306406` asking for
    /// pages instead of a silently cut list (default 10000).
    pub max_rows: usize,
    /// `length` of each v3 list call, 1..=1000 (default 1000, bk-job's maximum).
    pub page_length: usize,
}

impl Default for PagingConfig {
    fn default() -> Self {
        Self {
            max_rows: DEFAULT_MAX_ROWS,
            page_length: MAX_PAGE,
        }
    }
}

impl PagingConfig {
    /// Largest accepted `max_rows`.
    pub const MAX_ROWS_LIMIT: usize = 1_000_000;

    /// Check the bounds.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=Self::MAX_ROWS_LIMIT).contains(&self.max_rows) {
            return Err(format!(
                "paging.max_rows must be between 1 and {}, got {}",
                Self::MAX_ROWS_LIMIT,
                self.max_rows
            ));
        }
        if !(1..=MAX_PAGE).contains(&self.page_length) {
            return Err(format!(
                "paging.page_length must be between 1 and {MAX_PAGE} (bk-job's limit), got {}",
                self.page_length
            ));
        }
        Ok(())
    }

    /// The bounds for a [`Pager`].
    pub fn limits(&self) -> Limits {
        Limits {
            max_rows: self.max_rows,
            page_len: self.page_length,
        }
    }
}

/// The rows of a v3 list call gathered page by page.
#[derive(Debug, Clone)]
pub struct Pager {
    resource: String,
    query: Vec<(String, String)>,
    window: Window,
    max_rows: usize,
    page_len: usize,
    next: usize,
    total: Option<usize>,
    rows: Vec<Value>,
}

/// What the pager wants after a page.
#[derive(Debug, Clone, PartialEq)]
pub enum Paged {
    /// Ask for this page next.
    More(UpstreamRequest),
    /// Every wanted row is here.
    Complete,
}

impl Pager {
    /// Page through `GET resource?query&start=…&length=…` for `window`, gathering at most
    /// `limits.max_rows` rows. A window asking for more is refused at once.
    pub fn new(
        resource: &str,
        query: Vec<(String, String)>,
        window: Window,
        limits: Limits,
    ) -> Result<Self, CallError> {
        let max_rows = limits.max_rows;
        if window.length.is_some_and(|n| n > max_rows) {
            return Err(too_many(window.length.unwrap_or(0), max_rows));
        }
        Ok(Self {
            resource: resource.to_owned(),
            query,
            next: window.start,
            window,
            max_rows,
            page_len: limits.page_len.clamp(1, MAX_PAGE),
            total: None,
            rows: Vec::new(),
        })
    }

    /// The request for the next page.
    pub fn request(&self) -> UpstreamRequest {
        let remaining = match self.window.length {
            Some(n) => n.saturating_sub(self.rows.len()),
            None => self.page_len,
        };
        let mut query = self.query.clone();
        query.push(("start".to_owned(), self.next.to_string()));
        query.push((
            "length".to_owned(),
            remaining.clamp(1, self.page_len).to_string(),
        ));
        get(&self.resource, query)
    }

    /// Take in one page (`{start, length, total, data}`).
    pub fn consume(&mut self, data: &Value) -> Result<Paged, PageError> {
        let page = data
            .as_object()
            .ok_or_else(|| PageError::Shape(shape("data")))?;
        let items = match page.get("data") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return Err(PageError::Shape(shape("data.data"))),
        };
        let total = match page.get("total").and_then(Value::as_u64) {
            Some(t) => usize::try_from(t).unwrap_or(usize::MAX),
            None => return Err(PageError::Shape(shape("data.total"))),
        };
        self.total = Some(total);
        let wanted_end = match self.window.length {
            Some(n) => self.window.start.saturating_add(n).min(total),
            None => total,
        };
        if wanted_end.saturating_sub(self.window.start) > self.max_rows {
            return Err(PageError::TooMany(too_many(
                total.saturating_sub(self.window.start),
                self.max_rows,
            )));
        }
        let room = wanted_end.saturating_sub(self.next);
        self.rows.extend(items.iter().take(room).cloned());
        self.next = self.next.saturating_add(items.len().min(room));
        if items.is_empty() || self.next >= wanted_end {
            Ok(Paged::Complete)
        } else {
            Ok(Paged::More(self.request()))
        }
    }

    /// The rows gathered so far.
    pub fn rows(&self) -> &[Value] {
        &self.rows
    }

    /// Take the rows gathered.
    pub fn take_rows(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.rows)
    }

    /// `total` of the last page (rows matching the query on the JOB side).
    pub fn total(&self) -> usize {
        self.total.unwrap_or(0)
    }

    /// The window asked for.
    pub fn window(&self) -> Window {
        self.window
    }
}

/// A page that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageError {
    /// Not the documented page shape.
    Shape(TranslateError),
    /// More rows than the ceiling.
    TooMany(CallError),
}

impl PageError {
    /// The final step for this error.
    pub fn into_step(self) -> Step {
        match self {
            PageError::Shape(e) => Step::Fail(CallError::bad_reply(&e)),
            PageError::TooMany(e) => Step::Fail(e),
        }
    }
}

fn shape(field: &str) -> TranslateError {
    TranslateError::new(
        super::RejectReason::Invalid,
        field,
        "is not a v3 page ({start, length, total, data})",
    )
}

fn too_many(rows: usize, max_rows: usize) -> CallError {
    CallError::Rejected(TranslateError::new(
        super::RejectReason::Invalid,
        "length",
        format!(
            "the answer would hold {rows} rows, more than the {max_rows} this shim returns in \
             one answer (paging.max_rows): ask for pages with start and length"
        ),
    ))
}

/// Read a legacy `start`/`length` pair: `length` absent, 0 or negative means every row.
pub fn window(start: Option<i64>, length: Option<i64>) -> Window {
    Window {
        start: start.and_then(|s| usize::try_from(s).ok()).unwrap_or(0),
        length: length
            .filter(|n| *n > 0)
            .and_then(|n| usize::try_from(n).ok()),
    }
}

/// A v3 page object from rows (for the emulator-free unit tests of the calls).
pub fn page(start: usize, length: usize, total: usize, data: Vec<Value>) -> Value {
    let mut m = Map::new();
    m.insert("start".into(), Value::from(start));
    m.insert("length".into(), Value::from(length));
    m.insert("total".into(), Value::from(total));
    m.insert("data".into(), Value::Array(data));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(data: Value) -> Outcome {
        Outcome::Reply(EsbResp {
            code: 0,
            message: None,
            data,
            permission: None,
            job_request_id: None,
            status: None,
        })
    }

    fn lim(max_rows: usize) -> Limits {
        Limits {
            max_rows,
            page_len: MAX_PAGE,
        }
    }

    fn q(req: &UpstreamRequest, key: &str) -> usize {
        req.query
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(usize::MAX)
    }

    /// A fake list of `n` rows answering pages.
    fn rows(n: usize) -> impl FnMut(&UpstreamRequest) -> Value {
        move |req| {
            let (s, l) = (q(req, "start"), q(req, "length"));
            let data = (s..n.min(s + l)).map(|i| json!({"id": i})).collect();
            page(s, l, n, data)
        }
    }

    #[test]
    fn pager_gathers_every_row_in_pages_of_at_most_1000() {
        let mut p =
            Pager::new("get_x", vec![], window(None, None), lim(5000)).unwrap_or_else(|e| {
                unreachable!("{e:?}");
            });
        let mut fake = rows(2345);
        let mut req = p.request();
        let mut calls = 0;
        loop {
            calls += 1;
            assert!(q(&req, "length") <= MAX_PAGE);
            match p.consume(&fake(&req)) {
                Ok(Paged::More(r)) => req = r,
                Ok(Paged::Complete) => break,
                Err(e) => unreachable!("{e:?}"),
            }
        }
        assert_eq!(calls, 3);
        assert_eq!(p.rows().len(), 2345);
        assert_eq!(p.rows()[2344], json!({"id": 2344}));
    }

    #[test]
    fn pager_window_and_ceiling() {
        let mut p = Pager::new("get_x", vec![], window(Some(10), Some(5)), lim(100))
            .unwrap_or_else(|e| unreachable!("{e:?}"));
        let req = p.request();
        assert_eq!((q(&req, "start"), q(&req, "length")), (10, 5));
        assert_eq!(p.consume(&rows(12)(&req)), Ok(Paged::Complete));
        assert_eq!(p.rows().len(), 2);

        let mut p = Pager::new("get_x", vec![], window(None, None), lim(100))
            .unwrap_or_else(|e| unreachable!("{e:?}"));
        let req = p.request();
        match p.consume(&rows(101)(&req)) {
            Err(PageError::TooMany(e)) => {
                assert_eq!(e.code(), codes::ARGUMENT_ERROR);
                assert!(e.message().contains("101 rows"), "{}", e.message());
            }
            other => unreachable!("{other:?}"),
        }
        assert!(Pager::new("get_x", vec![], window(None, Some(101)), lim(100)).is_err());
        assert!(matches!(
            p.consume(&json!({"data": []})),
            Err(PageError::Shape(_))
        ));
    }

    #[test]
    fn paging_config_bounds() {
        let c: PagingConfig = toml::from_str("max_rows = 50").unwrap_or_default();
        assert_eq!((c.max_rows, c.page_length), (50, MAX_PAGE));
        assert!(c.validate().is_ok());
        let bad = PagingConfig {
            page_length: 1001,
            ..PagingConfig::default()
        };
        assert!(bad.validate().is_err_and(|e| e.contains("page_length")));
        assert!(toml::from_str::<PagingConfig>("rows = 1").is_err());
    }

    #[test]
    fn single_maps_passes_on_and_aborts() {
        let mk = || {
            Single::new(
                get("get_x", vec![]),
                Box::new(|d| Ok(Finished::data(json!({"n": d["n"]})))),
            )
        };
        let (sent, step) = drive(&mut mk(), |_| ok(json!({"n": 1, "other": 2})));
        assert_eq!(sent.len(), 1);
        assert_eq!(step, Step::Done(Finished::data(json!({"n": 1}))));
        let refused = EsbResp {
            code: 1_244_006,
            message: Some("no".into()),
            data: Value::Null,
            permission: None,
            job_request_id: None,
            status: None,
        };
        let (_, step) = drive(&mut mk(), |_| Outcome::Reply(refused.clone()));
        assert_eq!(step, Step::PassOn(refused));
        let (_, step) = drive(&mut mk(), |_| Outcome::Failed { definitive: false });
        assert_eq!(step, Step::Abort);
    }
}
