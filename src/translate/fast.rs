//! The fast reading of a legacy body: its heaviest member read straight into the typed
//! model the translator wants, with no `Value` tree built (or dropped) for it.
//!
//! The `global_vars` of a `job/execute_job` body are most of its bytes (a host list per
//! variable), the `ip_list` most of a `job/fast_execute_script` body's.
//! [`execute_job_params`] and [`fast_execute_script_params`] read them into borrowing
//! models that accept only the plain form — by hand when the body is in its plainest
//! form (`fast_scan`), else through serde (`budget::parse_split`, each host with
//! `fast_ip`): integers as JSON numbers, strings as
//! JSON strings, host lists as `ip_list` / `custom_query_id`, no other member. Anything
//! else — a numeric string, a `target_server`, an unknown member, a value the validator
//! refuses — makes the fast reading give up, and the caller reads the body the general way
//! (`crate::budget::parse`, then `validate`), which accepts or refuses it with the
//! same words as always. So a body read fast translates exactly as it would have been
//! translated from its tree; `tests/translate_fast.rs` checks this property.

use super::Route;
use super::fast_ip::FastIp;
use super::fast_scan;
use super::model::{LegacyGlobalVar, LegacyHostTarget, LegacyIp};
use super::validate;
use crate::budget::{Budget, Shape, Shaped, parse_split};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Parts of a legacy body already read into their typed models; they are then absent
/// from the body's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Typed {
    /// `global_vars` of `job/execute_job`, validated.
    pub global_vars: Option<Vec<LegacyGlobalVar>>,
    /// The top-level `ip_list` of `job/fast_execute_script`, validated.
    pub ip_list: Option<Vec<LegacyIp>>,
}

/// Largest body read the fast way. The typed models can take more memory than their text
/// (an empty variable `{}`, 3 bytes with its comma, becomes a model of at most 112 bytes,
/// checked in a test); each list stops at [`MAX_ITEMS`] as it is read, and with this
/// bound on the bytes too the models of one body stay within a few MiB whatever its
/// shape (10,000 empty variables: ~1.1 MiB, twice that while the list grows), the order
/// of the tree the general reading builds under the default budget. Larger bodies are
/// read the general way, where the budget stops the tree as it grows.
pub const FAST_MAX_BYTES: usize = 256 * 1024;

/// The fast reading of a JSON body for `route`: its parameters without the parts read
/// into typed models. `None`: the route has none, or the reading does not apply.
pub fn params(route: &Route, bytes: &[u8], budget: &Budget) -> Option<(Map<String, Value>, Typed)> {
    match route {
        Route::ExecuteJob => execute_job_params(bytes, budget),
        Route::FastExecuteScript => fast_execute_script_params(bytes, budget),
        _ => None,
    }
}

/// An `execute_job` body as its parameters without `global_vars`, and the validated
/// `global_vars`; `None` when the fast reading does not apply (see the module docs).
pub fn execute_job_params(bytes: &[u8], budget: &Budget) -> Option<(Map<String, Value>, Typed)> {
    if bytes.len() > FAST_MAX_BYTES {
        return None;
    }
    let split = fast_scan::split(bytes, budget, "global_vars", |s| {
        s.global_vars().map(GlobalVars)
    })
    .or_else(|| parse_split::<GlobalVars<'_>>(bytes, budget, "global_vars"))?;
    let global_vars = match split.typed {
        Some(vars) => Some(vars.into_legacy()?),
        None => None,
    };
    Some((
        split.rest,
        Typed {
            global_vars,
            ..Typed::default()
        },
    ))
}

/// A `fast_execute_script` body as its parameters without `ip_list`, and the validated
/// `ip_list`; `None` when the fast reading does not apply (see the module docs).
pub fn fast_execute_script_params(
    bytes: &[u8],
    budget: &Budget,
) -> Option<(Map<String, Value>, Typed)> {
    if bytes.len() > FAST_MAX_BYTES {
        return None;
    }
    let split = fast_scan::split(bytes, budget, "ip_list", |s| s.hosts().map(IpList))
        .or_else(|| parse_split::<IpList>(bytes, budget, "ip_list"))?;
    let ip_list = split.typed.map(|list| legacy_ips(list.0));
    Some((
        split.rest,
        Typed {
            ip_list,
            ..Typed::default()
        },
    ))
}

/// An `ip_list` array.
#[derive(Deserialize)]
#[serde(transparent)]
pub(super) struct IpList(pub(super) Hosts);

/// The `global_vars` array.
#[derive(Deserialize)]
#[serde(transparent)]
pub(super) struct GlobalVars<'a>(#[serde(borrow)] pub(super) Capped<GlobalVar<'a>>);

/// A `global_vars[]` item in its plain form (filled by serde, or by `fast_scan`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct GlobalVar<'a> {
    pub(super) id: Option<i64>,
    #[serde(borrow)]
    pub(super) name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) value: Option<Cow<'a, str>>,
    pub(super) ip_list: Option<Hosts>,
    #[serde(borrow)]
    pub(super) custom_query_id: Option<Capped<Cow<'a, str>>>,
}

/// Members of [`GlobalVar`] (its widest object).
const VAR_MEMBERS: usize = 5;

/// A host list (`ip_list`), each item read and validated as it is deserialized
/// ([`FastIp`]): a list the validator would refuse fails to deserialize (the fast
/// reading gives up). No `ip` text in it is longer than
/// [`MAX_IP_TEXT`](super::fast_ip::MAX_IP_TEXT), within
/// [`LONGEST_KEY`], so the list's strings never raise its shape's longest string.
pub(super) type Hosts = Capped<FastIp>;

/// Values of one host in a tree: the object and its two members.
const IP_VALUES: usize = 3;

/// The longest key of the models (`custom_query_id`).
const LONGEST_KEY: usize = 15;

impl GlobalVars<'_> {
    /// The validated variables, as `validate::legacy_global_var` reads them; `None` for
    /// anything it would refuse.
    pub(super) fn into_legacy(self) -> Option<Vec<LegacyGlobalVar>> {
        self.0.0.into_iter().map(GlobalVar::into_legacy).collect()
    }
}

impl GlobalVar<'_> {
    fn into_legacy(self) -> Option<LegacyGlobalVar> {
        let name = self
            .name
            .filter(|n| !n.trim().is_empty())
            .map(Cow::into_owned);
        // An id > 0 or a name (bk-job v2 `checkExecuteTaskRequest`).
        if name.is_none() && self.id.is_none_or(|i| i < 1) {
            return None;
        }
        let ip_list = self.ip_list.map(legacy_ips);
        let custom_query_id = match self.custom_query_id {
            Some(ids) => Some(ids.0.iter().map(|id| group_id(id)).collect::<Option<_>>()?),
            None => None,
        };
        Some(LegacyGlobalVar {
            id: self.id,
            name,
            value: self.value.map(Cow::into_owned),
            target: LegacyHostTarget {
                target_server: None,
                ip_list,
                custom_query_id,
            },
        })
    }

    fn shape(&self) -> Shape {
        let ips = self.ip_list.as_ref().map_or(0, |l| l.0.len());
        let ids = self.custom_query_id.as_ref().map_or(0, |l| l.0.len());
        let strings = [self.name.as_deref(), self.value.as_deref()]
            .into_iter()
            .flatten()
            .chain(
                self.custom_query_id
                    .iter()
                    .flat_map(|l| &l.0)
                    .map(|id| &**id),
            )
            .map(str::len)
            .max()
            .unwrap_or(0);
        Shape {
            // The object, each member as if present, and the lists' items.
            values: 1 + VAR_MEMBERS + ips * IP_VALUES + ids,
            // The object, `ip_list`, an item.
            depth: 3,
            array_len: ips.max(ids).max(VAR_MEMBERS),
            string_bytes: strings.max(LONGEST_KEY),
        }
    }
}

/// A list read with at most [`MAX_ITEMS`] items: reading one more fails (and the general
/// reading decides), so no list grows past what the default budget allows while it is
/// read, whatever the body.
pub(crate) struct Capped<T>(pub(crate) Vec<T>);

/// The default budget's longest list (`server.max_hosts`). With a lower setting the shape
/// check refuses a longer list once read; with a higher one a longer list is left to the
/// general reading.
pub(super) const MAX_ITEMS: usize = 10_000;

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Capped<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Items<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Items<T> {
            type Value = Capped<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Capped<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    if out.len() == MAX_ITEMS {
                        return Err(serde::de::Error::custom("too many items"));
                    }
                    out.push(item);
                }
                Ok(Capped(out))
            }
        }
        d.deserialize_seq(Items(std::marker::PhantomData))
    }
}

/// The validated hosts of a list.
fn legacy_ips(hosts: Hosts) -> Vec<LegacyIp> {
    hosts.0.into_iter().map(|host| host.0).collect()
}

/// A `custom_query_id` item as `validate::opt_group_ids` reads it.
fn group_id(id: &str) -> Option<String> {
    (!id.trim().is_empty()).then(|| validate::normalise_group_id(id).to_owned())
}

impl Shaped for IpList {
    fn shape(&self) -> Shape {
        let hosts = self.0.0.len();
        Shape {
            // The array, and each item with its two members.
            values: 1 + hosts * IP_VALUES,
            // The array, an item.
            depth: 2,
            array_len: hosts.max(2),
            // Keys and `ip` texts (at most `MAX_IP_TEXT`).
            string_bytes: LONGEST_KEY,
        }
    }
}

impl Shaped for GlobalVars<'_> {
    fn shape(&self) -> Shape {
        self.0.0.iter().map(GlobalVar::shape).fold(
            Shape {
                values: 1,
                depth: 1,
                array_len: self.0.0.len(),
                string_bytes: 0,
            },
            |a, v| Shape {
                values: a.values.saturating_add(v.values),
                depth: a.depth.max(1 + v.depth),
                array_len: a.array_len.max(v.array_len),
                string_bytes: a.string_bytes.max(v.string_bytes),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_stay_within_the_sizes_the_memory_bound_assumes() {
        // The bound `FAST_MAX_BYTES` is documented with.
        assert!(std::mem::size_of::<GlobalVar<'_>>() <= 112);
        // An `ip_list` item (at least 26 bytes of text with its comma) is smaller still.
        assert!(std::mem::size_of::<FastIp>() <= 32);
    }
}
