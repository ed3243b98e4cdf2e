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
pub(crate) fn split<'a, T: Shaped>(
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

/// Which of `keys` the member `key` is, the first time it is met (`seen`); `None` for
/// an unknown or a repeated member.
pub(crate) fn member_slot(keys: &[&str], seen: &mut [bool], key: &[u8]) -> Option<usize> {
    let slot = keys.iter().position(|k| k.as_bytes() == key)?;
    let first = !std::mem::replace(seen.get_mut(slot)?, true);
    first.then_some(slot)
}

/// A cursor over a body's bytes.
pub(crate) struct Scanner<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.peek()? == want).then(|| self.at += 1)
    }

    pub(crate) fn eat_null(&mut self) -> bool {
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
    pub(crate) fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Capped<T>> {
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
    pub(crate) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &[u8]) -> Option<()>,
    ) -> Option<()> {
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
    pub(crate) fn string(&mut self) -> Option<Cow<'a, str>> {
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
    pub(crate) fn integer(&mut self) -> Option<i64> {
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
    pub(crate) fn nullable<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
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

    pub(crate) fn eat_bytes(&mut self, want: &[u8]) -> bool {
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
            let keys = ["id", "name", "value", "ip_list", "custom_query_id"];
            match member_slot(&keys, &mut seen, key)? {
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
mod tests;
