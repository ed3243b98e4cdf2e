//! JSON budget: the shape of a JSON document counted while it is parsed, so that no tree
//! grows past it.
//!
//! A parsed `serde_json::Value` costs 45–95× the bytes it came from (every number, string
//! and container is a 32-byte value plus its allocation), so the body size limit alone
//! does not bound memory: a 10 MB list of small numbers becomes ~1 GB of tree. [`parse`]
//! builds the tree with serde's visitor machinery, counting as it goes, and stops as soon
//! as one limit is passed (the partial tree is dropped), so memory is bounded by the
//! budget, not by the document; the budget costs no second pass over the bytes:
//!
//! * `max_depth`: nesting of arrays and objects;
//! * `max_array_len`: elements of one array (`server.max_hosts` bounds host lists this
//!   way; an object's members count too);
//! * `max_string_bytes`: one string (or key);
//! * `max_values`: scalars, strings and containers in the whole document.
//!
//! The error names the limit and is answered `1306406`. Upstream replies are parsed the
//! same way with their own [`Budget`] (`upstream::reply::REPLY_BUDGET`).

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::Cell;
use std::fmt;

/// Limits of one JSON document (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Deepest nesting of arrays/objects.
    pub max_depth: usize,
    /// Most elements in one array (or members in one object).
    pub max_array_len: usize,
    /// Longest string or key, in bytes.
    pub max_string_bytes: usize,
    /// Most values in the whole document.
    pub max_values: usize,
}

impl Default for Budget {
    /// Request defaults: a 5,000-host legacy body (about 15,000 values) passes with room;
    /// a tree stays under ~20 MiB.
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_array_len: 10_000,
            max_string_bytes: 8 * 1024 * 1024,
            max_values: 200_000,
        }
    }
}

/// Which limit a document passed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// Nested deeper than `max_depth`.
    #[error("JSON nesting deeper than the limit of {0}")]
    Depth(usize),
    /// An array (or object) longer than `max_array_len`.
    #[error("a JSON array has more than the limit of {0} elements (server.max_hosts)")]
    ArrayLen(usize),
    /// A string longer than `max_string_bytes`.
    #[error("a JSON string is longer than the limit of {0} bytes")]
    StringLen(usize),
    /// More than `max_values` values.
    #[error("the JSON document has more than the limit of {0} values")]
    Values(usize),
}

struct Walk<'b> {
    budget: &'b Budget,
    values: Cell<usize>,
    error: Cell<Option<BudgetError>>,
}

impl Walk<'_> {
    fn fail<E: serde::de::Error>(&self, e: BudgetError) -> E {
        let msg = e.to_string();
        self.error.set(Some(e));
        E::custom(msg)
    }

    fn count<E: serde::de::Error>(&self) -> Result<(), E> {
        let n = self.values.get() + 1;
        self.values.set(n);
        if n > self.budget.max_values {
            return Err(self.fail(BudgetError::Values(self.budget.max_values)));
        }
        Ok(())
    }

    fn string<E: serde::de::Error>(&self, s: &str) -> Result<(), E> {
        self.count()?;
        self.key(s)
    }

    fn key<E: serde::de::Error>(&self, s: &str) -> Result<(), E> {
        if s.len() > self.budget.max_string_bytes {
            return Err(self.fail(BudgetError::StringLen(self.budget.max_string_bytes)));
        }
        Ok(())
    }
}

/// One value at `depth`, built into a [`Value`].
#[derive(Clone, Copy)]
struct Node<'w, 'b> {
    walk: &'w Walk<'b>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Value, E> {
        self.walk.count().map(|()| Value::Bool(b))
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Value, E> {
        self.walk.count().map(|()| Value::from(n))
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Value, E> {
        self.walk.count().map(|()| Value::from(n))
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Value, E> {
        // As serde_json's own `Value`: a float that is not finite becomes `null`.
        self.walk
            .count()
            .map(|()| Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.walk.count().map(|()| Value::Null)
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Value, E> {
        self.walk.string(s).map(|()| Value::String(s.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Value, E> {
        self.walk.string(&s).map(|()| Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.enter()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(child)? {
            out.push(v);
            self.check_len(out.len())?;
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.enter()?;
        let mut out = Map::new();
        while let Some(k) = map.next_key_seed(Key(self.walk))? {
            let v = map.next_value_seed(child)?;
            out.insert(k, v);
            self.check_len(out.len())?;
        }
        Ok(Value::Object(out))
    }
}

impl Node<'_, '_> {
    fn enter<E: serde::de::Error>(self) -> Result<Self, E> {
        self.walk.count()?;
        if self.depth >= self.walk.budget.max_depth {
            return Err(self
                .walk
                .fail(BudgetError::Depth(self.walk.budget.max_depth)));
        }
        Ok(Node {
            walk: self.walk,
            depth: self.depth + 1,
        })
    }

    fn check_len<E: serde::de::Error>(self, n: usize) -> Result<(), E> {
        if n > self.walk.budget.max_array_len {
            return Err(self
                .walk
                .fail(BudgetError::ArrayLen(self.walk.budget.max_array_len)));
        }
        Ok(())
    }
}

/// An object key: a string, checked for length.
struct Key<'w, 'b>(&'w Walk<'b>);

impl<'de> DeserializeSeed<'de> for Key<'_, '_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_, '_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<String, E> {
        self.0.key(s).map(|()| s.to_owned())
    }
    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<String, E> {
        self.0.key(&s).map(|()| s)
    }
}

/// Why [`parse`] built no tree.
#[derive(Debug)]
pub enum ParseError {
    /// A limit of the budget was passed (the tree was dropped as soon as it was).
    Budget(BudgetError),
    /// Not one JSON document.
    Json(serde_json::Error),
}

/// Parses `bytes` (one JSON document) into a tree while counting it against `budget`:
/// the first passed limit stops the parse, so no tree ever holds more than the budget
/// allows. One pass: the budget costs no second parse.
pub fn parse(bytes: &[u8], budget: &Budget) -> Result<Value, ParseError> {
    match std::str::from_utf8(bytes) {
        // UTF-8 checked once for the whole document rather than string by string.
        Ok(text) => parse_from(serde_json::Deserializer::from_str(text), budget),
        // The byte reader finds and names the bad byte.
        Err(_) => parse_from(serde_json::Deserializer::from_slice(bytes), budget),
    }
}

fn parse_from<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    budget: &Budget,
) -> Result<Value, ParseError> {
    let walk = Walk {
        budget,
        values: Cell::new(0),
        error: Cell::new(None),
    };
    let r = Node {
        walk: &walk,
        depth: 0,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match (r, walk.error.take()) {
        (_, Some(e)) => Err(ParseError::Budget(e)),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(ParseError::Json(e)),
    }
}

/// How much of the budget a typed model read in place of a tree would have used, at
/// most: what [`parse_split`] checks it against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Values, counted as [`parse`] counts them, the model's own container included
    /// (absent optional members may count).
    pub values: usize,
    /// Nesting of arrays/objects inside the model.
    pub depth: usize,
    /// Longest array, or most members of one object.
    pub array_len: usize,
    /// Longest string or key, in bytes.
    pub string_bytes: usize,
}

/// A typed model that knows its [`Shape`].
pub trait Shaped {
    /// The model's shape (an upper bound of what its tree would have counted).
    fn shape(&self) -> Shape;
}

/// Like [`parse`] for a JSON object, except that the value of its member `key` is read
/// as `T` (a typed model: no tree) and returned apart; the other members become the
/// map, under the budget. `T` must reject anything it does not model (unknown fields
/// included) so that its depth is its own.
///
/// `None` when the fast reading does not apply: the document is not an object, is not
/// JSON (or not UTF-8), passes a limit, names `key` twice, or its `key` does not read as
/// `T`. The caller then uses [`parse`], which builds the whole tree and names the
/// problem. A `null` member reads as absent.
pub fn parse_split<'de, T>(bytes: &'de [u8], budget: &Budget, key: &str) -> Option<Split<T>>
where
    T: serde::Deserialize<'de> + Shaped,
{
    let walk = Walk {
        budget,
        values: Cell::new(0),
        error: Cell::new(None),
    };
    let mut de = serde_json::Deserializer::from_str(std::str::from_utf8(bytes).ok()?);
    let visitor = SplitVisitor::<T> {
        walk: &walk,
        key,
        typed: std::marker::PhantomData,
    };
    let split = de.deserialize_map(visitor).ok()?;
    de.end().ok()?;
    if walk.error.take().is_some() {
        return None;
    }
    let fits = split.typed.as_ref().is_none_or(|t| {
        let s = t.shape();
        walk.values.get().saturating_add(s.values) <= budget.max_values
            && s.depth < budget.max_depth
            && s.array_len <= budget.max_array_len
            && s.string_bytes <= budget.max_string_bytes
    });
    fits.then_some(split)
}

/// What [`parse_split`] read: the members other than its key, and the key's typed value.
#[derive(Debug)]
pub struct Split<T> {
    /// The other members.
    pub rest: Map<String, Value>,
    /// The key's value; `None` when absent or `null`.
    pub typed: Option<T>,
}

struct SplitVisitor<'w, 'b, 'k, T> {
    walk: &'w Walk<'b>,
    key: &'k str,
    typed: std::marker::PhantomData<T>,
}

impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for SplitVisitor<'_, '_, '_, T> {
    type Value = Split<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Split<T>, A::Error> {
        let root = Node {
            walk: self.walk,
            depth: 0,
        };
        let child = root.enter()?;
        let mut rest = Map::new();
        let (mut seen, mut typed) = (false, None);
        while let Some(k) = map.next_key_seed(Key(self.walk))? {
            if k == self.key {
                if seen {
                    return Err(serde::de::Error::custom("the key is named twice"));
                }
                seen = true;
                typed = map.next_value::<Option<T>>()?;
                if typed.is_none() {
                    // `null`, as [`parse`] counts it (a model counts itself in its shape).
                    self.walk.count()?;
                }
            } else {
                let v = map.next_value_seed(child)?;
                rest.insert(k, v);
            }
            root.check_len(rest.len() + usize::from(seen))?;
        }
        Ok(Split { rest, typed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limit `bytes` passes (`Err(None)`: not JSON).
    fn check(bytes: &[u8], b: &Budget) -> Result<(), Option<BudgetError>> {
        match parse(bytes, b) {
            Ok(_) => Ok(()),
            Err(ParseError::Budget(e)) => Err(Some(e)),
            Err(ParseError::Json(_)) => Err(None),
        }
    }

    fn small() -> Budget {
        Budget {
            max_depth: 3,
            max_array_len: 4,
            max_string_bytes: 5,
            max_values: 12,
        }
    }

    #[test]
    fn within_budget_passes() {
        let b = small();
        assert_eq!(check(b"", &b), Err(None), "callers handle an empty body");
        // The tree is the one serde_json builds.
        let doc = br#"{"a":[1,-2,3.5,"x\u00e9",""],"b":{"c":null,"d":true},"a2":{}}"#;
        assert_eq!(
            parse(doc, &Budget::default()).ok(),
            serde_json::from_slice::<Value>(doc).ok()
        );
        assert_eq!(
            check(br#"{"a":[1,2,3,"abcde"],"b":{"c":null}}"#, &b),
            Ok(())
        );
    }

    #[test]
    fn bad_utf8_is_named_as_serde_json_names_it() {
        for doc in [&b"{\"a\":\"x\xff\"}"[..], b"[\"\xc3\"]", b"\xef\xbb\xbf{}"] {
            let ours = match parse(doc, &Budget::default()) {
                Err(ParseError::Json(e)) => e.to_string(),
                other => panic!("{other:?}"),
            };
            let theirs = serde_json::from_slice::<Value>(doc).map(drop);
            assert_eq!(Some(ours), theirs.err().map(|e| e.to_string()));
        }
    }

    #[test]
    fn each_limit_is_named() {
        let b = small();
        assert_eq!(check(b"[[[[1]]]]", &b), Err(Some(BudgetError::Depth(3))));
        assert_eq!(
            check(b"[1,2,3,4,5]", &b),
            Err(Some(BudgetError::ArrayLen(4)))
        );
        assert_eq!(
            check(br#"{"a":1,"b":2,"c":3,"d":4,"e":5}"#, &b),
            Err(Some(BudgetError::ArrayLen(4)))
        );
        assert_eq!(
            check(br#"["abcdef"]"#, &b),
            Err(Some(BudgetError::StringLen(5)))
        );
        assert_eq!(
            check(br#"{"abcdef":1}"#, &b),
            Err(Some(BudgetError::StringLen(5)))
        );
        assert_eq!(
            check(b"[[1,2,3],[1,2,3],[1,2,3],[1]]", &b),
            Err(Some(BudgetError::Values(12)))
        );
        assert_eq!(check(b"[1,", &b), Err(None));
        assert_eq!(check(b"[1] x", &b), Err(None));
        let msg = BudgetError::ArrayLen(10_000).to_string();
        assert!(
            msg.contains("10000") && msg.contains("server.max_hosts"),
            "{msg}"
        );
    }

    #[test]
    fn a_5000_host_body_passes_the_default_and_a_number_flood_does_not() {
        let hosts: Vec<String> = (0..5_000)
            .map(|i| format!(r#"{{"bk_cloud_id":0,"ip":"10.0.{}.{}"}}"#, i / 256, i % 256))
            .collect();
        let body = format!(
            r#"{{"bk_biz_id":2,"script_content":"ZWNobyAx","ip_list":[{}]}}"#,
            hosts.join(",")
        );
        assert_eq!(check(body.as_bytes(), &Budget::default()), Ok(()));
        let flood = format!("[{}1]", "1,".repeat(1_000_000));
        assert_eq!(
            check(flood.as_bytes(), &Budget::default()),
            Err(Some(BudgetError::ArrayLen(10_000)))
        );
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            check(deep.as_bytes(), &Budget::default()),
            Err(Some(BudgetError::Depth(32)))
        );
    }
}
