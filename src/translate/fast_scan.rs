//! The plainest legacy bodies read by hand, before serde is asked (`super::fast`).
//!
//! Read through serde_json, each host of a `global_vars` or `ip_list` list cost ~1,000
//! instructions (callgrind: a map access, two keys and a string per host, each through
//! serde's machinery), more than the rest of the request's own work. This scanner
//! finds the heavy member of the top-level object by hand and reads it into the same
//! borrowing models serde would fill (`GlobalVars`, `IpList`), at a few instructions a
//! byte; the other members are copied, as text, into a small object that the budgeted
//! parser then reads as before (`crate::budget::parse`), so they are checked exactly as
//! always.
//!
//! It is strict: a key or an address with an escape, a number that is not a plain
//! integer, a `null` heavy member, an item written as an array, an unknown or repeated
//! member — anything but the plainest form — and it gives up, and the serde reading
//! (`budget::parse_split`) decides. What it accepts is read as that reading would read
//! it (tests: `tests/translate_fast.rs`, on generated bodies; the unit tests below).

use super::fast::{Capped, GlobalVar, MAX_ITEMS};
use super::fast_ip::{self, FastIp};
use crate::budget::{self, Budget, Shaped, Split};
use memchr::memchr2;
use serde_json::Value;
use std::borrow::Cow;
use std::net::Ipv4Addr;

/// The object `bytes`, with its member `key` read by `read` and the other members as a
/// map, under `budget` (as `budget::parse_split` returns it). `None` when the body is
/// not in the plain form, or passes a limit: the caller then asks serde.
pub(super) fn split<'a, T: Shaped>(
    bytes: &'a [u8],
    budget: &Budget,
    key: &str,
    read: impl Fn(&mut Scanner<'a>) -> Option<T>,
) -> Option<Split<T>> {
    let (rest, typed) = scan_object(bytes, key.as_bytes(), read)?;
    let shape = typed.as_ref().map(Shaped::shape);
    // The member's values are counted against the same budget as the rest's.
    let rest_budget = Budget {
        max_values: budget
            .max_values
            .checked_sub(shape.map_or(0, |s| s.values))?,
        ..*budget
    };
    // The member's key is checked as any key is.
    let fits = shape.is_none_or(|s| {
        key.len() <= budget.max_string_bytes
            && s.depth < budget.max_depth
            && s.array_len <= budget.max_array_len
            && s.string_bytes <= budget.max_string_bytes
    });
    let Value::Object(rest) = budget::parse(&rest, &rest_budget).ok()? else {
        return None;
    };
    let members = rest.len() + usize::from(typed.is_some());
    (fits && members <= budget.max_array_len).then_some(Split { rest, typed })
}

/// `{…}` split into the text of the object without its member `key`, and that member
/// read by `read` (`None` when absent).
fn scan_object<'a, T>(
    bytes: &'a [u8],
    key: &[u8],
    read: impl Fn(&mut Scanner<'a>) -> Option<T>,
) -> Option<(Vec<u8>, Option<T>)> {
    let mut s = Scanner { b: bytes, at: 0 };
    let mut rest = Vec::with_capacity(256);
    let mut typed = None;
    rest.push(b'{');
    s.ws();
    s.eat(b'{')?;
    s.ws();
    if s.eat(b'}').is_none() {
        loop {
            let start = s.at;
            let name = s.plain_string()?;
            s.colon()?;
            if name == key {
                if typed.is_some() {
                    return None;
                }
                typed = Some(read(&mut s)?);
            } else {
                s.skip_value()?;
                if rest.len() > 1 {
                    rest.push(b',');
                }
                rest.extend_from_slice(bytes.get(start..s.at)?);
            }
            if s.list_end(b'}')? {
                break;
            }
        }
    }
    s.ws();
    rest.push(b'}');
    (s.at == bytes.len()).then_some((rest, typed))
}

/// A cursor over a body's bytes.
pub(super) struct Scanner<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.peek()? == want).then(|| self.at += 1)
    }

    fn eat_null(&mut self) -> bool {
        let null = self
            .b
            .get(self.at..)
            .is_some_and(|t| t.starts_with(b"null"));
        if null {
            self.at += 4;
        }
        null
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn colon(&mut self) -> Option<()> {
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(())
    }

    /// After an item of a list closed by `close`: `Some(true)` at its end, `Some(false)`
    /// before the next item.
    fn list_end(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = self.peek()?;
        if c != close && c != b',' {
            return None;
        }
        self.at += 1;
        self.ws();
        Some(c == close)
    }

    /// `[item, …]`, at most [`MAX_ITEMS`] items.
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Capped<T>> {
        self.eat(b'[')?;
        self.ws();
        let mut out = Vec::new();
        if self.eat(b']').is_none() {
            loop {
                if out.len() == MAX_ITEMS {
                    return None;
                }
                out.push(item(self)?);
                if self.list_end(b']')? {
                    break;
                }
            }
        }
        Some(Capped(out))
    }

    /// `{"key": value, …}`: `member` reads each value after its key (`None`: give up).
    fn object(&mut self, mut member: impl FnMut(&mut Self, &[u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.plain_string()?;
            self.colon()?;
            member(self, key)?;
            if self.list_end(b'}')? {
                return Some(());
            }
        }
    }

    /// A string with no escape and no control character: its bytes.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let rest = self.b.get(self.at..)?;
        let len = memchr2(b'"', b'\\', rest)?;
        let text = rest.get(..len)?;
        if rest.get(len) != Some(&b'"') || text.iter().any(|&c| c < 0x20) {
            return None;
        }
        self.at += len + 1;
        Some(text)
    }

    /// A string, escapes decoded (by serde_json, when there are any).
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at;
        if let Some(text) = self.plain_string() {
            return std::str::from_utf8(text).ok().map(Cow::Borrowed);
        }
        self.at = start;
        self.skip_value()?;
        let quoted = self.b.get(start..self.at)?;
        serde_json::from_slice::<String>(quoted)
            .ok()
            .map(Cow::Owned)
    }

    /// `-?(0|[1-9][0-9]*)` of at most 18 digits (longer ones are left to serde), not
    /// `-0` (which serde_json reads as a float), not followed by a fraction or an
    /// exponent.
    fn integer(&mut self) -> Option<i64> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let start = self.at;
        let mut v: i64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            if self.at - start == 18 {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
            self.at += 1;
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && self.b.get(start) == Some(&b'0');
        let fraction = matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        if digits == 0 || leading_zero || fraction || (negative && v == 0) {
            return None;
        }
        Some(if negative { -v } else { v })
    }

    /// Skip one JSON value (checked later by the parser that reads it).
    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            let c = self.peek()?;
            match c {
                b'"' => self.skip_string()?,
                b'[' | b'{' => {
                    depth += 1;
                    self.at += 1;
                }
                b']' | b'}' if depth > 0 => {
                    depth -= 1;
                    self.at += 1;
                }
                b',' | b']' | b'}' | b':' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => {
                    return None;
                }
                _ if depth > 0 => self.at += 1,
                _ => {
                    // A scalar at the top: up to the next delimiter.
                    while self.peek().is_some_and(|c| !b",]}: \t\n\r".contains(&c)) {
                        self.at += 1;
                    }
                }
            }
            if depth == 0 {
                return Some(());
            }
        }
    }

    fn skip_string(&mut self) -> Option<()> {
        self.at += 1;
        loop {
            let rest = self.b.get(self.at..)?;
            let i = memchr2(b'"', b'\\', rest)?;
            self.at += i + if rest.get(i) == Some(&b'\\') { 2 } else { 1 };
            if rest.get(i) == Some(&b'"') {
                return Some(());
            }
        }
    }

    /// `null` or a value read by `read`.
    fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.eat_null() {
            return Some(None);
        }
        read(self).map(Some)
    }

    /// A host list (`FastIp` items).
    pub(super) fn hosts(&mut self) -> Option<Capped<FastIp>> {
        self.list(Self::host)
    }

    /// `{"bk_cloud_id": n, "ip": "a.b.c.d"}`, validated as [`FastIp`] is. The hottest
    /// reading of all (one per host): keys compared in place, the address parsed as it
    /// is scanned.
    fn host(&mut self) -> Option<FastIp> {
        self.eat(b'{')?;
        self.ws();
        let (mut cloud, mut ip) = (None, None);
        loop {
            if cloud.is_none() && self.eat_bytes(b"\"bk_cloud_id\"") {
                self.colon()?;
                cloud = Some(self.integer()?);
            } else if ip.is_none() && self.eat_bytes(b"\"ip\"") {
                self.colon()?;
                ip = Some(self.ip()?);
            } else {
                return None;
            }
            if self.list_end(b'}')? {
                break;
            }
        }
        FastIp::new(cloud?, ip?)
    }

    fn eat_bytes(&mut self, want: &[u8]) -> bool {
        let found = self.b.get(self.at..).is_some_and(|t| t.starts_with(want));
        if found {
            self.at += want.len();
        }
        found
    }

    /// An `ip` value: a plain dotted quad read byte by byte, else any string without an
    /// escape that `fast_ip::address` reads.
    fn ip(&mut self) -> Option<Ipv4Addr> {
        let start = self.at;
        if let Some(ip) = self.dotted_quad() {
            return Some(ip);
        }
        self.at = start;
        fast_ip::address(std::str::from_utf8(self.plain_string()?).ok()?)
    }

    /// `"a.b.c.d"`, as `fast_ip` reads a plain dotted quad.
    fn dotted_quad(&mut self) -> Option<Ipv4Addr> {
        self.eat(b'"')?;
        let (ip, len) = fast_ip::leading_dotted_quad(self.b.get(self.at..)?)?;
        self.at += len;
        self.eat(b'"')?;
        Some(ip)
    }

    /// The `global_vars` list.
    pub(super) fn global_vars(&mut self) -> Option<Capped<GlobalVar<'a>>> {
        self.list(Self::global_var)
    }

    /// A `global_vars[]` item, into the model serde fills.
    fn global_var(&mut self) -> Option<GlobalVar<'a>> {
        let mut var = GlobalVar::default();
        let mut seen = [false; 5];
        self.object(|s, key| {
            let slot = ["id", "name", "value", "ip_list", "custom_query_id"]
                .iter()
                .position(|k| k.as_bytes() == key)?;
            let first = !std::mem::replace(seen.get_mut(slot)?, true);
            first.then_some(())?;
            match slot {
                0 => var.id = s.nullable(Self::integer)?,
                1 => var.name = s.nullable(Self::string)?,
                2 => var.value = s.nullable(Self::string)?,
                3 => var.ip_list = s.nullable(Self::hosts)?,
                _ => var.custom_query_id = s.nullable(|s| s.list(Self::string))?,
            }
            Some(())
        })?;
        Some(var)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fast::GlobalVars;
    use super::*;
    use crate::budget::parse_split;
    use proptest::prelude::*;

    /// What a split reads, comparable: the other members, the validated variables (or
    /// `None` when the validator refuses them) and their shape.
    type Read = (
        serde_json::Map<String, Value>,
        Option<Option<Vec<LegacyGlobalVarView>>>,
    );
    type LegacyGlobalVarView = super::super::model::LegacyGlobalVar;

    fn read(split: Option<Split<GlobalVars<'_>>>) -> Option<(Read, Option<budget::Shape>)> {
        split.map(|s| {
            let shape = s.typed.as_ref().map(Shaped::shape);
            ((s.rest, s.typed.map(GlobalVars::into_legacy)), shape)
        })
    }

    fn scanned(body: &str, b: &Budget) -> Option<(Read, Option<budget::Shape>)> {
        read(split(body.as_bytes(), b, "global_vars", |s| {
            s.global_vars().map(GlobalVars)
        }))
    }

    fn serde(body: &str, b: &Budget) -> Option<(Read, Option<budget::Shape>)> {
        read(parse_split::<GlobalVars<'_>>(
            body.as_bytes(),
            b,
            "global_vars",
        ))
    }

    const SEED: &str = r#"{"bk_app_code":"esb_test","bk_app_secret":"xxx","bk_biz_id":2,"bk_job_id":100,"global_vars":[{"id":436,"custom_query_id":["3","5"],"ip_list":[{"bk_cloud_id":0,"ip":"10.0.0.1"},{"bk_cloud_id":0,"ip":"10.0.0.2"}]},{"id":437,"value":"new String value"}]}"#;

    #[test]
    fn the_plain_form_is_scanned_and_read_as_serde_reads_it() {
        let b = Budget::default();
        let got = scanned(SEED, &b);
        assert!(got.is_some());
        assert_eq!(got, serde(SEED, &b));
        let spaced = " {\n \"global_vars\" : [ { \"ip_list\" : [ { \"ip\" : \"10.0.0.1\" , \"bk_cloud_id\" : 1 } ] , \"id\" : 1 } ] , \"steps\" : [ {\"a\" : \"]}\\\"\"} ] } ";
        assert!(scanned(spaced, &b).is_some());
        assert_eq!(scanned(spaced, &b), serde(spaced, &b));
    }

    #[test]
    fn other_forms_are_left_to_serde() {
        let b = Budget::default();
        for body in [
            r#"{"global_vars":null}"#,
            r#"{"global_vars":[[1,null,null,null,null]]}"#,
            r#"{"global_vars":[{"id":1}],"global_vars":[]}"#,
            r#"{"global_vars":[{"id":1,"id":2}]}"#,
            r#"{"global_vars":[{"id":1,"other":2}]}"#,
            r#"{"global_vars":[{"id":-0}]}"#,
            r#"{"global_vars":[{"id":1.0}]}"#,
            r#"{"global_vars":[{"id":"1"}]}"#,
            r#"{"global_vars":[{"i\u0064":1}]}"#,
            r#"{"global_vars":[{"id":1,"ip_list":[{"bk_cloud_id":0,"ip":"10.0.0.\u0031"}]}]}"#,
            r#"{"global_vars":[{"id":1}],}"#,
            r#"{"global_vars":[{"id":1},]}"#,
            r#"{"global_vars":[{"id":1}]} x"#,
            r#"{"glob\u0061l_vars":[{"id":1}]}"#,
            "{\"global_vars\":[{\"id\":1,\"name\":\"a\tb\"}]}",
            r#"{"a":,"global_vars":[]}"#,
            r#"[{"global_vars":[]}]"#,
        ] {
            assert_eq!(scanned(body, &b), None, "{body}");
        }
    }

    #[test]
    fn escaped_text_is_decoded_as_serde_decodes_it() {
        let b = Budget::default();
        let body = r#"{"global_vars":[{"id":1,"name":"a\"\u00e9\\","value":"\n","custom_query_id":["\u0033"]}]}"#;
        assert!(scanned(body, &b).is_some());
        assert_eq!(scanned(body, &b), serde(body, &b));
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        prop_oneof![6 => Just(""), 1 => Just(" "), 1 => Just("\n\t"), 1 => Just("\r ")]
    }

    fn int() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => (-5i64..1000).prop_map(|i| i.to_string()),
            1 => prop::sample::select(vec!["-0", "01", "1.0", "1e2", "\"1\"", "null", "9223372036854775808", "-"]).prop_map(str::to_owned),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => "[a-z0-9 :]{0,6}".prop_map(|t| format!("\"{t}\"")),
            1 => prop::sample::select(vec![r#""a\"b""#, r#""\u00e9""#, "\"\u{e9}\"", "\"a\tb\"", r#""\x""#, "null", "5", "[]"]).prop_map(str::to_owned),
        ]
    }

    fn host() -> impl Strategy<Value = String> {
        let ip = prop_oneof![
            6 => any::<[u8; 4]>().prop_map(|o| format!("\"{}.{}.{}.{}\"", o[0], o[1], o[2], o[3])),
            1 => prop::sample::select(vec!["\" 1.2.3.4 \"", "\"01.2.3.4\"", "\"1.2.3.256\"", r#""1.2.3.\u0034""#, "\"                1.2.3.4\"", "null", "1"]).prop_map(str::to_owned),
        ];
        (
            ws(),
            int(),
            ip,
            any::<bool>(),
            prop::sample::select(vec!["", "\"bk_host_id\":1,", "\"ip\":\"1.1.1.1\","]),
        )
            .prop_map(|(w, c, ip, flip, extra)| {
                let (c, ip) = (format!("\"bk_cloud_id\"{w}:{c}"), format!("\"ip\":{w}{ip}"));
                let (a, b) = if flip { (ip, c) } else { (c, ip) };
                format!("{{{w}{extra}{a}{w},{w}{b}}}")
            })
    }

    fn list(item: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        prop_oneof![
            8 => (ws(), prop::collection::vec(item, 0..4)).prop_map(|(w, items)| format!("[{w}{}]", items.join(&format!("{w},")))),
            1 => Just("null".to_owned()),
            1 => Just("{}".to_owned()),
        ]
    }

    fn var() -> impl Strategy<Value = String> {
        let members = prop::collection::vec(
            prop_oneof![
                Just(("id", int().boxed())),
                Just(("name", text().boxed())),
                Just(("value", text().boxed())),
                Just(("ip_list", list(host()).boxed())),
                Just(("custom_query_id", list(text()).boxed())),
                Just(("bk_host_id", int().boxed())),
            ]
            .prop_flat_map(|(k, v)| (Just(k), v)),
            0..5,
        );
        prop_oneof![
            12 => (ws(), members).prop_map(|(w, m)| {
                let m: Vec<String> = m.into_iter().map(|(k, v)| format!("\"{k}\"{w}:{w}{v}")).collect();
                format!("{{{w}{}{w}}}", m.join(","))
            }),
            1 => Just("[1,null,null,null,null]".to_owned()),
            1 => Just("null".to_owned()),
        ]
    }

    fn body() -> impl Strategy<Value = String> {
        let rest = prop::sample::select(vec![
            "",
            r#""bk_biz_id":2,"#,
            r#""steps":[{"a":"]}\"",  "b":[1,{}]}],"#,
            r#""bk_app_code":"x\u0041","bk_app_code":"y","#,
            r#""nested":{"a":[[[[1]]]]},"#,
            r#""bad":tru,"#,
        ]);
        (ws(), rest, list(var()), any::<bool>()).prop_map(|(w, r, vars, absent)| {
            let vars = if absent {
                String::new()
            } else {
                format!("\"global_vars\"{w}:{w}{vars}")
            };
            format!("{w}{{{r}{vars}}}{w}").replace(",}", "}")
        })
    }

    fn budget() -> impl Strategy<Value = Budget> {
        prop_oneof![
            4 => Just(Budget::default()),
            1 => (2usize..6, 1usize..5, 1usize..16, 5usize..40).prop_map(|(d, a, s, v)| Budget {
                max_depth: d,
                max_array_len: a,
                max_string_bytes: s,
                max_values: v,
            }),
        ]
    }

    #[test]
    fn the_generated_bodies_exercise_both_readings() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut scan, mut serde_only) = (0, 0);
        for _ in 0..512 {
            let Ok(tree) = body().new_tree(&mut runner) else {
                continue;
            };
            let body = tree.current();
            let b = Budget::default();
            match (scanned(&body, &b), serde(&body, &b)) {
                (Some(_), _) => scan += 1,
                (None, Some(_)) => serde_only += 1,
                (None, None) => {}
            }
        }
        assert!(
            scan > 100 && serde_only > 10,
            "{scan} scanned, {serde_only} by serde only"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Whatever the scanner reads, serde reads the same, under the same budget.
        #[test]
        fn what_is_scanned_reads_as_serde_reads_it(body in body(), b in budget()) {
            if let Some(got) = scanned(&body, &b) {
                prop_assert_eq!(Some(got), serde(&body, &b), "{}", body);
            }
        }
    }
}
