//! Hand-written JSON for the texts on the hot path: the v3 bodies of `execute_job_plan`
//! and `fast_execute_script` (here), the legacy status reply (`status::legacy`) and the
//! legacy success envelope (`envelope`).
//!
//! `serde_json`'s serializer spends ~720 instructions on one `{bk_cloud_id, ip}` host
//! (struct and key machinery, escaping scans of constant keys, the flattened scope
//! through a map serializer), measured with callgrind; a body with a few dozen hosts cost
//! ~38k. Here keys are byte literals, integers go through `itoa` and addresses are
//! written digit by digit, so only text that comes from users is scanned for escapes.
//!
//! The output is byte for byte what `serde_json::to_vec` writes for the same model (same
//! member order, same `skip_serializing_if` omissions, compact): the derived `Serialize`
//! impls stay the reference, and the tests below hold the two together.

use super::model::{
    TopoNode, V3DynamicGroup, V3ExecuteJobPlan, V3FastExecuteScript, V3GlobalVar, V3Ip, V3Server,
};
use super::scope::Scope;

/// A value that writes itself as compact JSON, exactly as its `Serialize` impl would
/// through `serde_json`.
pub(crate) trait WriteJson {
    /// Append the JSON text of `self` to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
}

impl WriteJson for i64 {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(itoa::Buffer::new().format(*self).as_bytes());
    }
}

impl WriteJson for str {
    fn write_json(&self, out: &mut Vec<u8>) {
        // `serde_json` escapes exactly these bytes; text without them is written as it
        // is between quotes, which is what it would write.
        let plain = !self.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
        if plain {
            out.push(b'"');
            out.extend_from_slice(self.as_bytes());
            out.push(b'"');
        } else {
            // A `str` into a `Vec`: neither the serializer nor the writer can fail.
            let _ = serde_json::to_writer(&mut *out, self);
        }
    }
}

impl WriteJson for bool {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl WriteJson for f64 {
    fn write_json(&self, out: &mut Vec<u8>) {
        // Rare on the hot path (durations): `serde_json` itself, so the digits are its
        // own (and a non-finite number its `null`).
        let _ = serde_json::to_writer(&mut *out, self);
    }
}

/// `null`, as `serde` writes the unit.
impl WriteJson for () {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"null");
    }
}

/// `null` when `None` (a member written with `put`, not skipped).
impl<T: WriteJson> WriteJson for Option<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.write_json(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

impl<T: WriteJson + ?Sized> WriteJson for &T {
    fn write_json(&self, out: &mut Vec<u8>) {
        (**self).write_json(out);
    }
}

impl WriteJson for String {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.as_str().write_json(out);
    }
}

impl<T: WriteJson> WriteJson for [T] {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item.write_json(out);
        }
        out.push(b']');
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.as_slice().write_json(out);
    }
}

impl<T: WriteJson, const N: usize> WriteJson for [T; N] {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.as_slice().write_json(out);
    }
}

/// The members of one JSON object being written: puts the `{`, the `,` between members
/// and the `}`.
pub(crate) struct Members<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Members<'o> {
    /// Start an object.
    pub(crate) fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// Write `key` (a constant, needing no escape) and `value`.
    pub(crate) fn put<T: WriteJson + ?Sized>(&mut self, key: &[u8], value: &T) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key);
        self.out.extend_from_slice(b"\":");
        value.write_json(self.out);
    }

    /// Write `key` and `value` unless `value` is `None` (`skip_serializing_if =
    /// "Option::is_none"`).
    pub(crate) fn opt<T: WriteJson + ?Sized>(&mut self, key: &[u8], value: Option<&T>) {
        if let Some(v) = value {
            self.put(key, v);
        }
    }

    /// The members of `scope`, inline (`#[serde(flatten)]`).
    fn scope(&mut self, scope: &Scope) {
        self.put(b"bk_scope_type", scope.bk_scope_type);
        self.put(b"bk_scope_id", &scope.bk_scope_id);
    }

    /// End the object.
    pub(crate) fn close(self) {
        self.out.push(b'}');
    }
}

impl WriteJson for Scope {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut m = Members::open(out);
        m.scope(self);
        m.close();
    }
}

impl WriteJson for V3Ip {
    /// The hottest item (one per host): room reserved once, then constant pieces and
    /// digits pushed in place (no formatter, no intermediate text).
    fn write_json(&self, out: &mut Vec<u8>) {
        out.reserve(48);
        out.extend_from_slice(b"{\"bk_cloud_id\":");
        match u8::try_from(self.bk_cloud_id) {
            Ok(digit) if digit < 10 => out.push(b'0' + digit),
            _ => self.bk_cloud_id.write_json(out),
        }
        out.extend_from_slice(b",\"ip\":\"");
        for (i, octet) in self.ip.octets().into_iter().enumerate() {
            if i > 0 {
                out.push(b'.');
            }
            if octet >= 100 {
                out.push(b'0' + octet / 100);
            }
            if octet >= 10 {
                out.push(b'0' + octet / 10 % 10);
            }
            out.push(b'0' + octet % 10);
        }
        out.extend_from_slice(b"\"}");
    }
}

impl WriteJson for V3DynamicGroup {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut m = Members::open(out);
        m.put(b"id", &self.id);
        m.close();
    }
}

impl WriteJson for TopoNode {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut m = Members::open(out);
        m.put(b"id", &self.id);
        m.put(b"node_type", &self.node_type);
        m.close();
    }
}

impl WriteJson for V3Server {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut m = Members::open(out);
        m.opt(b"ip_list", self.ip_list.as_ref());
        m.opt(b"dynamic_group_list", self.dynamic_group_list.as_ref());
        m.opt(b"topo_node_list", self.topo_node_list.as_ref());
        m.close();
    }
}

impl WriteJson for V3GlobalVar {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut m = Members::open(out);
        m.opt(b"id", self.id.as_ref());
        m.opt(b"name", self.name.as_deref());
        m.opt(b"value", self.value.as_deref());
        m.opt(b"server", self.server.as_ref());
        m.close();
    }
}

impl WriteJson for V3ExecuteJobPlan {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut m = Members::open(out);
        m.scope(&self.scope);
        m.put(b"job_plan_id", &self.job_plan_id);
        m.opt(b"global_var_list", self.global_var_list.as_ref());
        m.opt(b"callback_url", self.callback_url.as_deref());
        m.close();
    }
}

impl WriteJson for V3FastExecuteScript {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut m = Members::open(out);
        m.scope(&self.scope);
        m.opt(b"script_version_id", self.script_version_id.as_ref());
        m.opt(b"script_content", self.script_content.as_deref());
        m.opt(b"script_language", self.script_language.as_ref());
        m.opt(b"script_param", self.script_param.as_deref());
        m.opt(b"timeout", self.timeout.as_ref());
        m.opt(b"account_alias", self.account_alias.as_deref());
        m.opt(b"is_param_sensitive", self.is_param_sensitive.as_ref());
        m.opt(b"task_name", self.task_name.as_deref());
        m.put(b"target_server", &self.target_server);
        m.opt(b"callback_url", self.callback_url.as_deref());
        m.close();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;
    use std::net::Ipv4Addr;

    /// What the hand writer writes for `model`.
    pub(crate) fn written(model: &impl WriteJson) -> String {
        let mut out = Vec::new();
        model.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    /// What `serde_json` writes for `model`.
    pub(crate) fn reference(model: &impl Serialize) -> String {
        serde_json::to_string(model).unwrap()
    }

    #[test]
    fn a_fixed_job_plan_is_written_as_serde_does() {
        let body = V3ExecuteJobPlan {
            scope: Scope::from_biz_id(8_000_001),
            job_plan_id: -7,
            global_var_list: Some(vec![
                V3GlobalVar {
                    id: Some(3),
                    name: Some("a \"q\" \\ \n\u{1}é".into()),
                    value: Some(String::new()),
                    server: None,
                },
                V3GlobalVar {
                    server: Some(V3Server {
                        ip_list: Some(vec![V3Ip {
                            bk_cloud_id: 0,
                            ip: Ipv4Addr::new(10, 0, 0, 1),
                        }]),
                        dynamic_group_list: Some(vec![V3DynamicGroup { id: "g".into() }]),
                        topo_node_list: Some(vec![]),
                    }),
                    ..V3GlobalVar::default()
                },
                V3GlobalVar::default(),
            ]),
            callback_url: None,
        };
        let text = written(&body);
        assert_eq!(text, reference(&body));
        assert_eq!(
            text,
            r#"{"bk_scope_type":"biz_set","bk_scope_id":"8000001","job_plan_id":-7,"global_var_list":[{"id":3,"name":"a \"q\" \\ \n\u0001é","value":""},{"server":{"ip_list":[{"bk_cloud_id":0,"ip":"10.0.0.1"}],"dynamic_group_list":[{"id":"g"}],"topo_node_list":[]}},{}]}"#
        );
        let scope = Scope::from_biz_id(2);
        assert_eq!(written(&scope), reference(&scope));
    }

    /// Text that needs escapes more often than arbitrary strings do.
    pub(crate) fn text() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[a-z0-9\"\\\\/\\x00-\\x1f\\x7fé€😀]{0,12}",]
    }

    fn opt_int() -> impl Strategy<Value = Option<i64>> {
        proptest::option::of(any::<i64>())
    }

    fn list<T: std::fmt::Debug>(
        item: impl Strategy<Value = T>,
    ) -> impl Strategy<Value = Option<Vec<T>>> {
        proptest::option::of(proptest::collection::vec(item, 0..4))
    }

    fn scope() -> impl Strategy<Value = Scope> {
        let kinds = prop::sample::select(vec!["biz", "biz_set", "x\"\\\u{7}"]);
        (kinds, text()).prop_map(|(bk_scope_type, bk_scope_id)| Scope {
            bk_scope_type,
            bk_scope_id,
        })
    }

    fn server() -> impl Strategy<Value = V3Server> {
        let ip = (any::<i64>(), any::<u32>()).prop_map(|(bk_cloud_id, ip)| V3Ip {
            bk_cloud_id,
            ip: Ipv4Addr::from(ip),
        });
        let group = text().prop_map(|id| V3DynamicGroup { id });
        let node = (any::<i64>(), text()).prop_map(|(id, node_type)| TopoNode { id, node_type });
        (list(ip), list(group), list(node)).prop_map(|(ip_list, groups, nodes)| V3Server {
            ip_list,
            dynamic_group_list: groups,
            topo_node_list: nodes,
        })
    }

    fn global_var() -> impl Strategy<Value = V3GlobalVar> {
        let t = || proptest::option::of(text());
        (opt_int(), t(), t(), proptest::option::of(server())).prop_map(
            |(id, name, value, server)| V3GlobalVar {
                id,
                name,
                value,
                server,
            },
        )
    }

    fn job_plan() -> impl Strategy<Value = V3ExecuteJobPlan> {
        let url = proptest::option::of(text());
        (scope(), any::<i64>(), list(global_var()), url).prop_map(
            |(scope, job_plan_id, global_var_list, callback_url)| V3ExecuteJobPlan {
                scope,
                job_plan_id,
                global_var_list,
                callback_url,
            },
        )
    }

    fn fast_script() -> impl Strategy<Value = V3FastExecuteScript> {
        let t = || proptest::option::of(text());
        let ints = (opt_int(), opt_int(), opt_int(), opt_int());
        let texts = (t(), t(), t(), t(), t());
        (scope(), ints, texts, server()).prop_map(|(scope, ints, texts, target_server)| {
            let (script_version_id, script_language, timeout, is_param_sensitive) = ints;
            let (script_content, script_param, account_alias, task_name, callback_url) = texts;
            V3FastExecuteScript {
                scope,
                script_version_id,
                script_content,
                script_language,
                script_param,
                timeout,
                account_alias,
                is_param_sensitive,
                task_name,
                target_server,
                callback_url,
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn job_plans_are_written_as_serde_does(body in job_plan()) {
            prop_assert_eq!(written(&body), reference(&body));
        }

        #[test]
        fn fast_scripts_are_written_as_serde_does(body in fast_script()) {
            prop_assert_eq!(written(&body), reference(&body));
        }
    }
}
