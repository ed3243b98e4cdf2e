//! Typed models of the legacy request bodies and the v3 request bodies.
//!
//! * `Legacy*` types are what the shim read out of a legacy ESB `job` v2 body, already
//!   validated (IPv4 parsed, ranges checked, ids normalised). They are filled by the
//!   path-aware readers in [`super::validate`] rather than by `serde::Deserialize`:
//!   errors must name the JSON path of the offending field (`global_vars[0].ip_list[1].ip`)
//!   and numbers must also be accepted as numeric strings, as bk-job's Jackson does.
//! * `V3*` types are the JOB v3 request bodies on the API gateway (`spec/bk-job-api.md`
//!   §2). They only serialize; `None` fields are left out of the JSON.

use super::scope::Scope;
use serde::Serialize;
use std::net::Ipv4Addr;

// ---------------------------------------------------------------------------------------
// Legacy (ESB `job` v2) inputs
// ---------------------------------------------------------------------------------------

/// One `{bk_cloud_id, ip}` item of a legacy `ip_list` (`EsbIpDTO`); `bk_host_id` is not
/// read by bk-job's v2 converter and is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyIp {
    /// `bk_cloud_id` (≥ 0).
    pub bk_cloud_id: i64,
    /// `ip`, trimmed and parsed.
    pub ip: Ipv4Addr,
}

/// A `topo_node_list` item: `{id, node_type}` (`EsbCmdbTopoNodeDTO`, same in v2 and v3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopoNode {
    /// CMDB `bk_inst_id`.
    pub id: i64,
    /// CMDB `bk_obj_id`, e.g. `module`, `set`.
    pub node_type: String,
}

/// Legacy `target_server` (`EsbServerDTO`, doc B).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyServer {
    /// `ip_list`.
    pub ip_list: Option<Vec<LegacyIp>>,
    /// `dynamic_group_id_list`, `bizId:groupId` already normalised to `groupId`.
    pub dynamic_group_id_list: Option<Vec<String>>,
    /// `topo_node_list`.
    pub topo_node_list: Option<Vec<TopoNode>>,
}

/// The three legacy ways of naming hosts, as they appear side by side in a global
/// variable, a fast-task body or a file source (`ip_list`, `custom_query_id`,
/// `target_server`). `None` means the key was absent or `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyHostTarget {
    /// `target_server`: when present, the two others are ignored (v2 `convertToServersDTO`).
    pub target_server: Option<LegacyServer>,
    /// `ip_list`.
    pub ip_list: Option<Vec<LegacyIp>>,
    /// `custom_query_id` (dynamic group ids, normalised).
    pub custom_query_id: Option<Vec<String>>,
}

impl LegacyHostTarget {
    /// True when none of the three keys was given.
    pub fn is_absent(&self) -> bool {
        self.target_server.is_none() && self.ip_list.is_none() && self.custom_query_id.is_none()
    }
}

/// A legacy `global_vars[]` item (`EsbGlobalVarDTO`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyGlobalVar {
    /// `id` (may be ≤ 0 when a name is given).
    pub id: Option<i64>,
    /// `name`.
    pub name: Option<String>,
    /// `value`.
    pub value: Option<String>,
    /// Host value: `target_server` / `ip_list` / `custom_query_id`.
    pub target: LegacyHostTarget,
}

/// Legacy `job/execute_job` body (docs A and B), `steps` excepted (see the translator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyExecuteJob {
    /// From `bk_biz_id` or `bk_scope_type` + `bk_scope_id`.
    pub scope: Scope,
    /// `bk_job_id`: the execution plan id (> 0).
    pub bk_job_id: i64,
    /// `global_vars`.
    pub global_vars: Option<Vec<LegacyGlobalVar>>,
    /// `bk_callback_url`, blank already turned into `None`.
    pub bk_callback_url: Option<String>,
}

/// Legacy `job/fast_execute_script` body (`EsbFastExecuteScriptRequest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyFastExecuteScript {
    /// Scope.
    pub scope: Scope,
    /// `script_id`: in JOB 3.x this is a script *version* id.
    pub script_id: Option<i64>,
    /// `script_content` (Base64, checked), empty turned into `None`.
    pub script_content: Option<String>,
    /// `script_type` (1..=5).
    pub script_type: Option<i64>,
    /// `script_param` (Base64, checked), empty turned into `None`.
    pub script_param: Option<String>,
    /// `script_timeout` in seconds (1..=259200).
    pub script_timeout: Option<i64>,
    /// `account`: an OS account alias.
    pub account: String,
    /// `is_param_sensitive` (0/1).
    pub is_param_sensitive: Option<i64>,
    /// `task_name`.
    pub task_name: Option<String>,
    /// Target hosts.
    pub target: LegacyHostTarget,
    /// `bk_callback_url`.
    pub bk_callback_url: Option<String>,
}

/// A legacy `file_source[]` item (`EsbFileSourceDTO`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyFileSource {
    /// `files`: absolute paths on the source hosts.
    pub files: Vec<String>,
    /// `account`: alias of the account on the source hosts.
    pub account: String,
    /// Source hosts.
    pub target: LegacyHostTarget,
}

/// Legacy `job/fast_push_file` body (`EsbFastPushFileRequest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyFastPushFile {
    /// Scope.
    pub scope: Scope,
    /// `file_target_path`.
    pub file_target_path: String,
    /// `account`: alias of the account on the target hosts.
    pub account: String,
    /// `file_source`.
    pub file_source: Vec<LegacyFileSource>,
    /// Target hosts.
    pub target: LegacyHostTarget,
    /// `timeout` (1..=259200).
    pub timeout: Option<i64>,
    /// `download_speed_limit` (MB/s).
    pub download_speed_limit: Option<i64>,
    /// `upload_speed_limit` (MB/s).
    pub upload_speed_limit: Option<i64>,
    /// `task_name`.
    pub task_name: Option<String>,
    /// `bk_callback_url`.
    pub bk_callback_url: Option<String>,
}

/// Legacy `job/get_job_instance_status` and `job/get_job_instance_log` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyJobInstanceQuery {
    /// Scope.
    pub scope: Scope,
    /// `job_instance_id` (> 0).
    pub job_instance_id: i64,
}

// ---------------------------------------------------------------------------------------
// JOB v3 outputs
// ---------------------------------------------------------------------------------------

/// v3 `ip_list` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct V3Ip {
    /// `bk_cloud_id`.
    pub bk_cloud_id: i64,
    /// `ip`, serialized as dotted-quad text.
    #[serde(serialize_with = "serialize_ipv4")]
    pub ip: Ipv4Addr,
}

/// Serialize an IPv4 address as text without an intermediate `String` (hot path: one
/// call per host).
fn serialize_ipv4<S: serde::Serializer>(ip: &Ipv4Addr, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 15];
    s.serialize_str(ipv4_text(ip, &mut buf))
}

/// Dotted-quad text of `ip`, written into `buf`.
pub fn ipv4_text<'b>(ip: &Ipv4Addr, buf: &'b mut [u8; 15]) -> &'b str {
    let mut len = 0;
    let mut push = |b: u8| {
        if let Some(slot) = buf.get_mut(len) {
            *slot = b;
            len += 1;
        }
    };
    for (i, o) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            push(b'.');
        }
        if o >= 100 {
            push(b'0' + o / 100);
        }
        if o >= 10 {
            push(b'0' + (o / 10) % 10);
        }
        push(b'0' + o % 10);
    }
    std::str::from_utf8(buf.get(..len).unwrap_or_default()).unwrap_or_default()
}

/// v3 `dynamic_group_list` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct V3DynamicGroup {
    /// CMDB dynamic group id.
    pub id: String,
}

/// v3 `server` object (`EsbServerV3DTO`). The shim never produces `host_id_list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct V3Server {
    /// `ip_list`, de-duplicated by (`bk_cloud_id`, `ip`), first seen order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_list: Option<Vec<V3Ip>>,
    /// `dynamic_group_list`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamic_group_list: Option<Vec<V3DynamicGroup>>,
    /// `topo_node_list`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topo_node_list: Option<Vec<TopoNode>>,
}

impl V3Server {
    /// True when no list names a host, group or node (bk-job: "Host is empty").
    pub fn is_empty(&self) -> bool {
        self.ip_list.as_ref().is_none_or(Vec::is_empty)
            && self.dynamic_group_list.as_ref().is_none_or(Vec::is_empty)
            && self.topo_node_list.as_ref().is_none_or(Vec::is_empty)
    }

    /// Number of static hosts, groups and nodes named.
    pub fn len(&self) -> usize {
        self.ip_list.as_ref().map_or(0, Vec::len)
            + self.dynamic_group_list.as_ref().map_or(0, Vec::len)
            + self.topo_node_list.as_ref().map_or(0, Vec::len)
    }
}

/// v3 `global_var_list` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct V3GlobalVar {
    /// `id` (> 0 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `value` (never together with `server`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `server`: host-variable value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<V3Server>,
}

/// `POST /api/v3/execute_job_plan` body (§2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct V3ExecuteJobPlan {
    /// Scope.
    #[serde(flatten)]
    pub scope: Scope,
    /// `job_plan_id`.
    pub job_plan_id: i64,
    /// `global_var_list`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_var_list: Option<Vec<V3GlobalVar>>,
    /// `callback_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// `POST /api/v3/fast_execute_script` body (§2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct V3FastExecuteScript {
    /// Scope.
    #[serde(flatten)]
    pub scope: Scope,
    /// `script_version_id` (legacy `script_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_version_id: Option<i64>,
    /// `script_content` (Base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_content: Option<String>,
    /// `script_language` (legacy `script_type`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_language: Option<i64>,
    /// `script_param` (Base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_param: Option<String>,
    /// `timeout` (legacy `script_timeout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// `account_alias` (legacy `account`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_alias: Option<String>,
    /// `is_param_sensitive` (int 0/1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_param_sensitive: Option<i64>,
    /// `task_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_name: Option<String>,
    /// `target_server`.
    pub target_server: V3Server,
    /// `callback_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// v3 account reference `{id?, alias?}` (`EsbAccountV3BasicDTO`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct V3Account {
    /// `id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// `alias`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// v3 `file_source_list` item (`EsbFileSourceV3DTO`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct V3FileSource {
    /// `file_list`.
    pub file_list: Vec<String>,
    /// `account`.
    pub account: V3Account,
    /// `server`.
    pub server: V3Server,
    /// `file_type`: 1 = server file (the only kind legacy `fast_push_file` knew).
    pub file_type: i64,
}

/// `POST /api/v3/fast_transfer_file` body (§2.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct V3FastTransferFile {
    /// Scope.
    #[serde(flatten)]
    pub scope: Scope,
    /// `file_target_path`.
    pub file_target_path: String,
    /// `account_alias`.
    pub account_alias: String,
    /// `file_source_list`.
    pub file_source_list: Vec<V3FileSource>,
    /// `target_server`.
    pub target_server: V3Server,
    /// `timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// `download_speed_limit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_speed_limit: Option<i64>,
    /// `upload_speed_limit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_speed_limit: Option<i64>,
    /// `task_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_name: Option<String>,
    /// `transfer_mode`: 2 = force (create the target directory), legacy behaviour.
    pub transfer_mode: i64,
    /// `callback_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// `transfer_mode` value matching the legacy "create the directory" behaviour.
pub const TRANSFER_MODE_FORCE: i64 = 2;
/// `file_type` of a file on a server.
pub const FILE_TYPE_SERVER: i64 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn none_fields_are_skipped_and_scope_is_flattened() {
        let body = V3ExecuteJobPlan {
            scope: Scope::from_biz_id(2),
            job_plan_id: 7,
            global_var_list: Some(vec![V3GlobalVar {
                name: Some("n".into()),
                ..V3GlobalVar::default()
            }]),
            callback_url: None,
        };
        let v = serde_json::to_value(&body).unwrap_or_default();
        assert_eq!(
            v,
            json!({"bk_scope_type": "biz", "bk_scope_id": "2", "job_plan_id": 7,
                   "global_var_list": [{"name": "n"}]})
        );
    }

    #[test]
    fn ipv4_text_matches_display() {
        let mut buf = [0u8; 15];
        for ip in [
            Ipv4Addr::new(0, 0, 0, 0),
            Ipv4Addr::new(10, 0, 9, 1),
            Ipv4Addr::new(255, 255, 255, 255),
            Ipv4Addr::new(100, 20, 3, 199),
        ] {
            assert_eq!(ipv4_text(&ip, &mut buf), ip.to_string());
        }
        let v = serde_json::to_value(V3Ip {
            bk_cloud_id: 2,
            ip: Ipv4Addr::new(10, 0, 0, 1),
        })
        .unwrap_or_default();
        assert_eq!(v, json!({"bk_cloud_id": 2, "ip": "10.0.0.1"}));
    }

    #[test]
    fn server_emptiness() {
        let mut s = V3Server::default();
        assert!(s.is_empty());
        s.ip_list = Some(vec![]);
        assert!(s.is_empty());
        s.topo_node_list = Some(vec![TopoNode {
            id: 1,
            node_type: "set".into(),
        }]);
        assert!(!s.is_empty());
        assert_eq!(s.len(), 1);
    }
}
