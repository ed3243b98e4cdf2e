//! Field validation helpers shared by the request translators, and the readers that turn
//! a legacy JSON body into the typed `Legacy*` models of [`super::model`].
//!
//! Rules (spec §2, §3, §4.5; DESIGN §4):
//! * integers are JSON numbers or numeric strings (`"123"`, as Jackson coerces them; GET
//!   query parameters arrive as strings); an empty string or `null` is "absent"; anything
//!   else (`"abc"`, `1.5`, `true`, arrays, objects) is a [`RejectReason::Type`] error;
//! * strings also accept numbers and booleans (Jackson coerces scalars to `String`);
//! * IPv4 addresses are trimmed, then must be four decimal octets without leading zeros;
//! * Base64 is the standard or URL-safe alphabet, padding optional, ASCII whitespace
//!   ignored (line-wrapped output of older Python clients), as bk-job's Apache decoder
//!   reads it; any other character is refused instead of being skipped;
//! * every error names the JSON path of the field, e.g. `global_vars[0].ip_list[1].ip`.
//!
//! Nothing here panics: no indexing, no `unwrap`.

use super::model::{
    LegacyExecuteJob, LegacyFastExecuteScript, LegacyFastPushFile, LegacyFileSource,
    LegacyGlobalVar, LegacyHostTarget, LegacyIp, LegacyJobInstanceQuery, LegacyServer, TopoNode,
    V3Server,
};
use super::scope::Scope;
use super::{RejectReason, TranslateError};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

mod bodies;
pub use bodies::*;

/// Result of the validators.
pub type Result<T> = std::result::Result<T, TranslateError>;

/// Job timeouts bk-job 3.x accepts by default, in seconds (DESIGN §4.3).
pub const TIMEOUT_RANGE: RangeInclusive<i64> = 1..=259_200;
/// Largest decoded `script_param`, in bytes.
pub const MAX_PARAM_BYTES: usize = 65_535;
/// Largest decoded `script_param` when `is_param_sensitive = 1`, in bytes.
pub const MAX_SENSITIVE_PARAM_BYTES: usize = 48_128;
/// Largest decoded `script_content` (MySQL MEDIUMTEXT), in bytes.
pub const MAX_SCRIPT_BYTES: usize = 16_777_215;
/// `script_language` / legacy `script_type`: 1 shell, 2 bat, 3 perl, 4 python,
/// 5 powershell. 6 (SQL) passes bk-job's enum check but is not a script language.
pub const SCRIPT_LANGUAGES: RangeInclusive<i64> = 1..=5;

// ---------------------------------------------------------------------------------------
// JSON paths
// ---------------------------------------------------------------------------------------

/// A JSON path built on the stack while walking a body. It is rendered (allocated) only
/// when an error or a warning needs it.
#[derive(Clone, Copy)]
pub struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

impl Path<'static> {
    /// The body itself (renders as `body`).
    pub const ROOT: Path<'static> = Path {
        parent: None,
        seg: Seg::Root,
    };
}

impl<'a> Path<'a> {
    /// `self.key`.
    pub fn key(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    /// `self[index]`.
    pub fn index(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Index(index),
        }
    }

    fn write_to(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.parent, self.seg) {
            (_, Seg::Root) => Ok(()),
            (None, Seg::Key(k)) => f.write_str(k),
            (None, Seg::Index(i)) => write!(f, "[{i}]"),
            (Some(parent), Seg::Key(k)) => {
                parent.write_to(f)?;
                if !matches!(parent.seg, Seg::Root) {
                    f.write_str(".")?;
                }
                f.write_str(k)
            }
            (Some(parent), Seg::Index(i)) => {
                parent.write_to(f)?;
                write!(f, "[{i}]")
            }
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.parent.is_none() && matches!(self.seg, Seg::Root) {
            return f.write_str("body");
        }
        self.write_to(f)
    }
}

impl fmt::Debug for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// A [`RejectReason::Type`] error: `p` must be `expected` but is `got`.
pub fn type_error(p: &Path<'_>, expected: &str, got: &Value) -> TranslateError {
    TranslateError::new(
        RejectReason::Type,
        p.to_string(),
        format!("must be {expected}, got {}", describe(got)),
    )
}

/// A [`RejectReason::Missing`] error.
pub fn missing(p: &Path<'_>, detail: impl Into<String>) -> TranslateError {
    TranslateError::new(RejectReason::Missing, p.to_string(), detail)
}

/// A [`RejectReason::Invalid`] error.
pub fn invalid(p: &Path<'_>, detail: impl Into<String>) -> TranslateError {
    TranslateError::new(RejectReason::Invalid, p.to_string(), detail)
}

/// Short description of a JSON value for error messages (strings truncated).
pub fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", quote(s)),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// `s` quoted and escaped, cut after 40 characters.
pub fn quote(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", s.get(..cut).unwrap_or_default()),
        None => format!("{s:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------------

/// The value of `key`, `None` when absent or `null`.
pub fn field<'v>(m: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    m.get(key).filter(|v| !v.is_null())
}

fn number_to_i64(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    // Integral floats (`100.0`) are accepted; fractions are not silently truncated.
    let f = n.as_f64()?;
    // Both bounds are exactly representable as f64 (±2^63 ⇒ use a strict upper bound).
    if f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f)
    {
        #[allow(clippy::cast_possible_truncation)]
        Some(f as i64)
    } else {
        None
    }
}

/// An optional integer: a JSON integer or a numeric string; `null` and `""` are absent.
pub fn opt_int(v: Option<&Value>, p: &Path<'_>) -> Result<Option<i64>> {
    let Some(v) = v else { return Ok(None) };
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match number_to_i64(n) {
            Some(i) => Ok(Some(i)),
            None if n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
                Err(invalid(p, format!("is out of range: {n}")))
            }
            None => Err(type_error(p, "an integer", v)),
        },
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Ok(None);
            }
            match t.parse::<i64>() {
                Ok(i) => Ok(Some(i)),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
                    ) =>
                {
                    Err(invalid(p, format!("is out of range: {}", quote(s))))
                }
                Err(_) => Err(type_error(p, "an integer", v)),
            }
        }
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err(type_error(p, "an integer", v)),
    }
}

/// A required integer.
pub fn req_int(v: Option<&Value>, p: &Path<'_>) -> Result<i64> {
    opt_int(v, p)?.ok_or_else(|| missing(p, "is required"))
}

/// An integer that must be ≥ 1 when present.
pub fn opt_positive(v: Option<&Value>, p: &Path<'_>) -> Result<Option<i64>> {
    match opt_int(v, p)? {
        Some(i) if i < 1 => Err(invalid(p, format!("must be a positive id, got {i}"))),
        other => Ok(other),
    }
}

/// A required integer ≥ 1.
pub fn req_positive(v: Option<&Value>, p: &Path<'_>) -> Result<i64> {
    opt_positive(v, p)?.ok_or_else(|| missing(p, "is required"))
}

/// An optional integer within `range`; `what` describes the unit for the message.
pub fn opt_int_in(
    v: Option<&Value>,
    p: &Path<'_>,
    range: &RangeInclusive<i64>,
    what: &str,
) -> Result<Option<i64>> {
    match opt_int(v, p)? {
        Some(i) if !range.contains(&i) => Err(invalid(
            p,
            format!(
                "must be between {} and {}{what}, got {i}",
                range.start(),
                range.end()
            ),
        )),
        other => Ok(other),
    }
}

/// An optional 0/1 flag. Booleans are accepted when `allow_bool` (legacy bodies).
pub fn opt_flag(v: Option<&Value>, p: &Path<'_>, allow_bool: bool) -> Result<Option<i64>> {
    if let (true, Some(Value::Bool(b))) = (allow_bool, v) {
        return Ok(Some(i64::from(*b)));
    }
    match opt_int(v, p)? {
        Some(i) if i != 0 && i != 1 => Err(invalid(p, format!("must be 0 or 1, got {i}"))),
        other => Ok(other),
    }
}

/// An optional string. Numbers and booleans are read as their text.
pub fn opt_str<'v>(v: Option<&'v Value>, p: &Path<'_>) -> Result<Option<Cow<'v, str>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(Cow::Borrowed(s.as_str()))),
        Some(Value::Number(n)) => Ok(Some(Cow::Owned(n.to_string()))),
        Some(Value::Bool(b)) => Ok(Some(Cow::Borrowed(if *b { "true" } else { "false" }))),
        Some(other @ (Value::Array(_) | Value::Object(_))) => Err(type_error(p, "a string", other)),
    }
}

/// An optional string, `None` when empty.
pub fn opt_nonempty(v: Option<&Value>, p: &Path<'_>) -> Result<Option<String>> {
    Ok(opt_str(v, p)?
        .filter(|s| !s.is_empty())
        .map(Cow::into_owned))
}

/// A required string that is not blank.
pub fn req_nonblank(v: Option<&Value>, p: &Path<'_>) -> Result<String> {
    match opt_str(v, p)? {
        Some(s) if !s.trim().is_empty() => Ok(s.into_owned()),
        Some(_) => Err(missing(p, "must not be empty")),
        None => Err(missing(p, "is required")),
    }
}

/// An optional array.
pub fn opt_array<'v>(v: Option<&'v Value>, p: &Path<'_>) -> Result<Option<&'v Vec<Value>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(other) => Err(type_error(p, "an array", other)),
    }
}

/// An optional object.
pub fn opt_object<'v>(
    v: Option<&'v Value>,
    p: &Path<'_>,
) -> Result<Option<&'v Map<String, Value>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(type_error(p, "an object", other)),
    }
}

/// A required object (array items).
pub fn object<'v>(v: &'v Value, p: &Path<'_>) -> Result<&'v Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Err(missing(p, "must not be null")),
        other => Err(type_error(p, "an object", other)),
    }
}

/// An IPv4 address (trimmed first).
pub fn ipv4(s: &str, p: &Path<'_>) -> Result<Ipv4Addr> {
    parse_ipv4(s).ok_or_else(|| invalid(p, format!("is not a valid IPv4 address: {}", quote(s))))
}

/// What [`ipv4`] accepts, without the error.
pub fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    s.trim().parse::<Ipv4Addr>().ok()
}

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Check that `s` is Base64 and return the decoded length in bytes.
pub fn base64_len(s: &str, p: &Path<'_>) -> Result<usize> {
    let bytes = s.as_bytes();
    let needs_cleaning = bytes
        .iter()
        .any(|b| b.is_ascii_whitespace() || *b == b'-' || *b == b'_');
    let input: Cow<'_, [u8]> = if needs_cleaning {
        Cow::Owned(
            bytes
                .iter()
                .filter(|b| !b.is_ascii_whitespace())
                .map(|b| match b {
                    b'-' => b'+',
                    b'_' => b'/',
                    other => *other,
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(bytes)
    };
    BASE64
        .decode(&input)
        .map(|d| d.len())
        .map_err(|e| invalid(p, format!("is not valid Base64 ({e})")))
}

/// Check a Base64 field whose decoded size is limited to `max` bytes.
pub fn base64_field(s: &str, p: &Path<'_>, max: usize) -> Result<()> {
    let len = base64_len(s, p)?;
    if len > max {
        return Err(invalid(
            p,
            format!("decodes to {len} bytes, more than the {max} bytes JOB accepts"),
        ));
    }
    Ok(())
}

/// A callback URL (`bk_callback_url` / `callback_url`): blank is absent; otherwise an
/// `http`/`https` URL with a host and no user info (bk-job `@ValidCallbackUrl`, §7.3).
pub fn callback_url(v: Option<&Value>, p: &Path<'_>) -> Result<Option<String>> {
    let Some(s) = opt_str(v, p)? else {
        return Ok(None);
    };
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let rest = strip_prefix_ignore_case(t, "http://")
        .or_else(|| strip_prefix_ignore_case(t, "https://"))
        .ok_or_else(|| {
            invalid(
                p,
                format!("must be an http:// or https:// URL: {}", quote(t)),
            )
        })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(invalid(p, "must not contain user credentials"));
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Err(invalid(p, format!("has no host: {}", quote(t))));
    }
    Ok(Some(t.to_owned()))
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// bk-job's `standardizeDynamicGroupId`: a legacy `bizId:groupId` becomes `groupId`.
/// Java's `split(":")` drops trailing empty parts; exactly two parts ⇒ the second.
pub fn normalise_group_id(id: &str) -> &str {
    let mut parts = id.trim_end_matches(':').split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(group), None) if !group.is_empty() => group,
        _ => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn paths_render_like_json_paths() {
        let root = Path::ROOT;
        let g = root.key("global_vars");
        let g0 = g.index(0);
        let ipl = g0.key("ip_list");
        let ip1 = ipl.index(1);
        assert_eq!(ip1.key("ip").to_string(), "global_vars[0].ip_list[1].ip");
        assert_eq!(root.to_string(), "body");
        assert_eq!(root.key("bk_job_id").to_string(), "bk_job_id");
    }

    #[test]
    fn integers_accept_numeric_strings_like_jackson() {
        let p = Path::ROOT;
        assert_eq!(opt_int(Some(&json!("123")), &p), Ok(Some(123)));
        assert_eq!(opt_int(Some(&json!(" 42 ")), &p), Ok(Some(42)));
        assert_eq!(opt_int(Some(&json!(7)), &p), Ok(Some(7)));
        assert_eq!(opt_int(Some(&json!(7.0)), &p), Ok(Some(7)));
        assert_eq!(opt_int(Some(&json!("")), &p), Ok(None));
        assert_eq!(opt_int(Some(&Value::Null), &p), Ok(None));
        assert_eq!(opt_int(None, &p), Ok(None));
        for bad in [json!("abc"), json!(1.5), json!(true), json!([1]), json!({})] {
            let e = opt_int(Some(&bad), &Path::ROOT.key("bk_job_id"));
            let e = e
                .err()
                .unwrap_or_else(|| TranslateError::new(RejectReason::Steps, "", ""));
            assert_eq!(e.reason, RejectReason::Type, "{bad}");
            assert_eq!(e.field, "bk_job_id");
        }
        let e = opt_int(Some(&json!(u64::MAX)), &p).err();
        assert_eq!(e.map(|e| e.reason), Some(RejectReason::Invalid));
        let e = opt_int(Some(&json!("99999999999999999999")), &p).err();
        assert_eq!(e.map(|e| e.reason), Some(RejectReason::Invalid));
    }

    #[test]
    fn ipv4_is_trimmed_and_strict() {
        let p = Path::ROOT;
        assert_eq!(ipv4(" 10.0.0.1 ", &p), Ok(Ipv4Addr::new(10, 0, 0, 1)));
        for bad in [
            "10.0.0",
            "10.0.0.256",
            "10.0.0.01",
            "::1",
            "a.b.c.d",
            "",
            "1.2.3.4.5",
        ] {
            assert!(ipv4(bad, &p).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_accepts_what_bk_job_reads() {
        let p = Path::ROOT;
        assert_eq!(base64_len("ZWNobyAkMQ==", &p), Ok(7));
        assert_eq!(base64_len("ZWNobyAkMQ", &p), Ok(7));
        assert_eq!(base64_len("ZWNo\nbyAk\r\nMQ==", &p), Ok(7));
        assert_eq!(base64_len("-_8=", &p), Ok(2));
        assert_eq!(base64_len("", &p), Ok(0));
        for bad in ["not base64!", "ZWNob*", "Z", "ZWNobyAkMQ==ZW"] {
            let e = base64_len(bad, &Path::ROOT.key("script_content")).err();
            assert_eq!(e.map(|e| e.field), Some("script_content".into()), "{bad}");
        }
        assert!(base64_field("aGVsbG8=", &p, 4).is_err());
    }

    #[test]
    fn callback_urls() {
        let p = Path::ROOT;
        assert_eq!(callback_url(Some(&json!("")), &p), Ok(None));
        assert_eq!(callback_url(Some(&json!("  ")), &p), Ok(None));
        assert_eq!(
            callback_url(Some(&json!(" https://cb.example.com/x?a=1 ")), &p),
            Ok(Some("https://cb.example.com/x?a=1".into()))
        );
        assert!(callback_url(Some(&json!("HTTP://h:80")), &p).is_ok());
        for bad in ["ftp://h/", "h/x", "http://", "http://u:p@h/", "http://:80/"] {
            assert!(callback_url(Some(&json!(bad)), &p).is_err(), "{bad}");
        }
    }

    #[test]
    fn group_ids_are_normalised_like_bk_job() {
        assert_eq!(normalise_group_id("2:abc"), "abc");
        assert_eq!(normalise_group_id("abc"), "abc");
        assert_eq!(normalise_group_id(":abc"), "abc");
        assert_eq!(normalise_group_id("2:abc:"), "abc");
        assert_eq!(normalise_group_id("a:b:c"), "a:b:c");
        assert_eq!(normalise_group_id("a:"), "a:");
        assert_eq!(normalise_group_id(":"), ":");
    }

    #[test]
    fn scope_rules() {
        let p = Path::ROOT;
        let s = scope(&obj(json!({"bk_biz_id": "8000000"})), &p);
        assert_eq!(s.ok().flatten().map(|s| s.bk_scope_type), Some("biz_set"));
        let s = scope(
            &obj(json!({"bk_biz_id": 1, "bk_scope_type": "biz_set", "bk_scope_id": 9991001})),
            &p,
        );
        assert_eq!(
            s.ok().flatten(),
            Some(Scope {
                bk_scope_type: "biz_set",
                bk_scope_id: "9991001".into()
            })
        );
        let e = scope(
            &obj(json!({"bk_scope_type": "tenant", "bk_scope_id": "1"})),
            &p,
        )
        .err();
        assert_eq!(
            e.map(|e| (e.reason, e.field)),
            Some((RejectReason::Invalid, "bk_scope_type".into()))
        );
        let e = scope(&obj(json!({"bk_scope_type": "biz", "bk_biz_id": 3})), &p).err();
        assert_eq!(e.map(|e| e.field), Some("bk_scope_id".into()));
        let e = scope(&obj(json!({"bk_biz_id": 0})), &p).err();
        assert_eq!(e.map(|e| e.field), Some("bk_biz_id".into()));
        let e = required_scope(&Map::new(), &p).err();
        assert_eq!(
            e.map(|e| (e.reason, e.field)),
            Some((RejectReason::Missing, "bk_biz_id".into()))
        );
    }

    #[test]
    fn ip_item_errors_name_the_field() {
        let p = Path::ROOT;
        let t = obj(
            json!({"ip_list": [{"bk_cloud_id": 0, "ip": "1.1.1.1"}, {"bk_cloud_id": -1, "ip": "1.1.1.1"}]}),
        );
        let e = host_target(&t, &p).err();
        assert_eq!(
            e.map(|e| (e.reason, e.field)),
            Some((RejectReason::Invalid, "ip_list[1].bk_cloud_id".into()))
        );
        let t = obj(json!({"target_server": {"ip_list": [{"bk_cloud_id": "0"}]}}));
        let e = host_target(&t, &p).err();
        assert_eq!(
            e.map(|e| (e.reason, e.field)),
            Some((RejectReason::Missing, "target_server.ip_list[0].ip".into()))
        );
        let t = obj(json!({"custom_query_id": ["1", ""]}));
        let e = host_target(&t, &p).err();
        assert_eq!(e.map(|e| e.field), Some("custom_query_id[1]".into()));
        let t = obj(json!({"custom_query_id": "1"}));
        let e = host_target(&t, &p).err();
        assert_eq!(
            e.map(|e| (e.reason, e.field)),
            Some((RejectReason::Type, "custom_query_id".into()))
        );
    }

    #[test]
    fn global_var_needs_id_or_name() {
        let p = Path::ROOT.key("global_vars");
        let p0 = p.index(0);
        let e = legacy_global_var(&json!({"id": 0}), &p0).err();
        assert_eq!(
            e.map(|e| (e.reason, e.field)),
            Some((RejectReason::Invalid, "global_vars[0].id".into()))
        );
        let e = legacy_global_var(&json!({"value": "x", "name": " "}), &p0).err();
        assert_eq!(e.map(|e| e.reason), Some(RejectReason::Missing));
        let v = legacy_global_var(&json!({"id": -1, "name": "n"}), &p0);
        assert_eq!(v.map(|v| v.id), Ok(Some(-1)));
    }

    #[test]
    fn fast_script_rules() {
        let base = json!({"bk_biz_id": 1, "account": "root", "ip_list": [{"bk_cloud_id": 0, "ip": "1.1.1.1"}]});
        let with = |extra: Value| {
            let mut m = obj(base.clone());
            m.extend(obj(extra));
            legacy_fast_execute_script(&m, None)
        };
        assert!(with(json!({"script_id": 3})).is_ok());
        let e = with(json!({})).err();
        assert_eq!(e.map(|e| e.field), Some("script_content".into()));
        let e = with(json!({"script_content": "ZWNobw=="})).err();
        assert_eq!(e.map(|e| e.field), Some("script_type".into()));
        let e = with(json!({"script_content": "ZWNobw==", "script_type": 6})).err();
        assert_eq!(
            e.map(|e| (e.reason, e.field)),
            Some((RejectReason::Invalid, "script_type".into()))
        );
        let e = with(json!({"script_id": 3, "script_timeout": 259_201})).err();
        assert_eq!(e.map(|e| e.field), Some("script_timeout".into()));
        assert!(with(json!({"script_id": 3, "script_timeout": "259200"})).is_ok());
        let e = with(json!({"script_id": 3, "is_param_sensitive": 2})).err();
        assert_eq!(e.map(|e| e.field), Some("is_param_sensitive".into()));
        let ok = with(json!({"script_id": 3, "is_param_sensitive": true}));
        assert_eq!(ok.map(|s| s.is_param_sensitive), Ok(Some(1)));
        // 48129 decoded bytes are too many for a sensitive parameter, not for a normal one.
        let big = base64::engine::general_purpose::STANDARD.encode(vec![b'a'; 48_129]);
        assert!(with(json!({"script_id": 3, "script_param": big})).is_ok());
        let e = with(json!({"script_id": 3, "script_param": big, "is_param_sensitive": 1})).err();
        assert_eq!(e.map(|e| e.field), Some("script_param".into()));
        let mut m = obj(base.clone());
        m.remove("account");
        m.insert("script_id".into(), json!(1));
        let e = legacy_fast_execute_script(&m, None).err();
        assert_eq!(
            e.map(|e| (e.reason, e.field)),
            Some((RejectReason::Missing, "account".into()))
        );
    }

    #[test]
    fn v3_light_checks() {
        let ok = obj(
            json!({"job_plan_id": "5", "global_var_list": [{"name": "a", "value": "b"},
            {"id": 3, "server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}}]}),
        );
        assert!(v3_execute_job_plan(&ok).is_ok());
        let bad = obj(json!({"job_plan_id": 5, "global_var_list": [{"id": 3,
            "server": {"host_id_list": [1, "x"]}}]}));
        let e = v3_execute_job_plan(&bad).err();
        assert_eq!(
            e.map(|e| (e.reason, e.field)),
            Some((
                RejectReason::Type,
                "global_var_list[0].server.host_id_list[1]".into()
            ))
        );
        let e = v3_execute_job_plan(&obj(json!({"global_var_list": []}))).err();
        assert_eq!(
            e.map(|e| (e.reason, e.field)),
            Some((RejectReason::Missing, "job_plan_id".into()))
        );
        let script = obj(json!({"script_version_id": 1, "target_server": {"host_id_list": [3]}}));
        assert!(v3_fast_execute_script(&script).is_ok());
        let empty = obj(json!({"script_version_id": 1, "target_server": {"ip_list": []}}));
        let e = v3_fast_execute_script(&empty).err();
        assert_eq!(e.map(|e| e.field), Some("target_server".into()));
        let lang =
            obj(json!({"script_content": "ZWNobw==", "target_server": {"host_id_list": [3]}}));
        let e = v3_fast_execute_script(&lang).err();
        assert_eq!(e.map(|e| e.field), Some("script_language".into()));
    }
}
