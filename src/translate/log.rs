//! v3 status + `batch_get_job_instance_ip_log` → legacy `get_job_instance_log` data
//! (`spec/bk-job-api.md` §2.5, §3.6; DESIGN §4 decisions 6–8).
//!
//! The proxy composes the legacy answer in three steps:
//! 1. `GET get_job_instance_status?…&return_ip_result=true` (its `data` is the input here);
//! 2. one `POST batch_get_job_instance_ip_log` per [`LogBatch`] from [`log_batches`];
//! 3. [`to_legacy_log`] over the status `data` and the `data` of every batch answer.
//!
//! The legacy shape is the one JOB 3.x emits on its own v2 endpoint
//! (`EsbGetJobInstanceLogResourceImpl`, `model/esb/v2/EsbStepInstanceResultAndLog.java`):
//! an array over steps of `{is_finished, step_instance_id, name, status, step_results}`.
//!
//! * `is_finished` is per step: the step status is one of JOB's finished statuses
//!   (`RunStatusEnum.isFinishedStatus(stepInstance.getStatus())`).
//! * `step_results` groups the step's hosts by (`status`, `tag`), a `null` tag equal to `""`
//!   (`ResultGroupBaseDTO.equals`). **Group order follows JOB, not arrival order:** JOB sorts
//!   the groups (`listAndGroupTasks(...).stream().sorted()`) by status ascending, then by tag
//!   (`String.compareTo`, UTF-16 order). Hosts keep their v3 order inside a group. A group's
//!   `tag` is the first member's raw tag, so it may be `null`.
//! * `ip_logs[]` = `{start_time, end_time, total_time, execute_count, error_code, exit_code,
//!   log_content, bk_cloud_id, ip}`: times and `total_time` as in
//!   [`super::status`]; `execute_count` is the step's (JOB reads each host task at the
//!   step's execute count).
//! * `log_content` goes through [`html_encode`] (`Utils.htmlEncode`: blank → `""`, then
//!   `&`, `>`, `<`; quotes are left alone). A host without a log is `""`.
//! * File steps: the host's `file_logs[].log_content` are joined with newlines (DESIGN §4.8).
//!   JOB 3.x itself concatenates them (`FileExecuteObjectLogContent.getContent`), so no
//!   newline is added after a piece that already ends with one, and upload (`mode: 0`)
//!   entries are left out: JOB reads the host's *download* task only.
//! * Approval steps (no hosts) answer `step_results: []`, as JOB does.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::data::Data;
use super::error::{RejectReason, TranslateError};
use super::status::{
    Reader, V3Host, V3Status, V3Step, is_finished_status, legacy_total_time, parse_v3_status,
    time_text,
};

/// Most hosts one `batch_get_job_instance_ip_log` call accepts (`1241007` above that).
pub const MAX_HOSTS_PER_BATCH: usize = 500;

/// `file_logs[].mode` of an upload (source-side) entry.
const FILE_MODE_UPLOAD: i64 = 0;

/// One `POST /api/v3/batch_get_job_instance_ip_log` call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogBatch {
    /// The step the call is for.
    pub step_instance_id: i64,
    /// The JSON body: `{bk_scope_type, bk_scope_id, job_instance_id, step_instance_id,
    /// host_id_list}` or, for hosts without `bk_host_id`, `ip_list: [{bk_cloud_id, ip}]`.
    pub body: Value,
}

/// The batch log calls needed for a v3 status `data`: per step, its hosts with a
/// `bk_host_id` in chunks of at most [`MAX_HOSTS_PER_BATCH`] by `host_id_list`, then the
/// hosts lacking one in chunks by `ip_list` (JOB ignores `ip_list` when `host_id_list` is
/// set, so the two never share a call). Duplicates are dropped, order is kept. Steps
/// without hosts need no call. Malformed status data yields no batches (the same data
/// makes [`to_legacy_log`] fail).
pub fn log_batches(v3_status_data: &Value) -> Vec<LogBatch> {
    parse_v3_status(v3_status_data).map_or_else(|_| Vec::new(), |s| batches_of(&s))
}

/// [`log_batches`] of the v3 status already read.
pub(crate) fn batches_of(status: &V3Status<'_>) -> Vec<LogBatch> {
    let scope_type = status.job.scope_type();
    let scope_id = status.job.scope_id();
    let job_instance_id = status.job.job_instance_id;

    let mut batches = Vec::new();
    for step in &status.steps {
        let mut host_ids = Vec::new();
        let mut seen_ids = HashSet::new();
        let mut ips = Vec::new();
        let mut seen_ips = HashSet::new();
        for host in &step.hosts {
            // A host with an id is asked for by id only, even when it is a duplicate.
            match (host.bk_host_id.filter(|&id| id > 0), host.ip.as_deref()) {
                (Some(id), _) => {
                    if !seen_ids.insert(id) {
                        continue;
                    }
                    host_ids.push(Value::from(id));
                }
                (None, Some(ip)) => {
                    let cloud = host.bk_cloud_id.unwrap_or(0);
                    if !seen_ips.insert((cloud, ip)) {
                        continue;
                    }
                    ips.push(json!({"bk_cloud_id": cloud, "ip": ip}));
                }
                (None, None) => {}
            }
        }
        let hosts_by = [("host_id_list", host_ids), ("ip_list", ips)];
        for (key, hosts) in hosts_by {
            for chunk in hosts.chunks(MAX_HOSTS_PER_BATCH) {
                let mut body = serde_json::Map::new();
                if let (Some(t), Some(id)) = (&scope_type, &scope_id) {
                    body.insert("bk_scope_type".into(), Value::from(t.as_str()));
                    body.insert("bk_scope_id".into(), Value::from(id.as_str()));
                }
                body.insert("job_instance_id".into(), Value::from(job_instance_id));
                body.insert(
                    "step_instance_id".into(),
                    Value::from(step.step_instance_id),
                );
                body.insert(key.into(), Value::Array(chunk.to_vec()));
                batches.push(LogBatch {
                    step_instance_id: step.step_instance_id,
                    body: Value::Object(body),
                });
            }
        }
    }
    batches
}

/// Build the legacy `get_job_instance_log` `data` from a v3 status `data` and the `data` of
/// every `batch_get_job_instance_ip_log` answer (`EsbIpLogsV3DTO`: `{job_instance_id,
/// step_instance_id, log_type, script_task_logs | file_task_logs}`), in any order; a `null`
/// entry (a batch that returned nothing) is skipped. See the module documentation for the
/// rules. Fails when the status data or a log entry is not the documented shape.
pub fn to_legacy_log(
    v3_status_data: &Value,
    logs: &[Value],
    tz: Tz,
) -> Result<Data, TranslateError> {
    legacy_log(&parse_v3_status(v3_status_data)?, logs, tz)
}

/// [`to_legacy_log`] of the v3 status already read.
pub(crate) fn legacy_log(
    status: &V3Status<'_>,
    logs: &[Value],
    tz: Tz,
) -> Result<Data, TranslateError> {
    let index = LogIndex::build(status, logs)?;

    let mut out = Vec::with_capacity(status.steps.len());
    for (i, step) in status.steps.iter().enumerate() {
        let mut step_results = Vec::new();
        for group in group_hosts(&step.hosts) {
            let ip_logs = group
                .hosts
                .iter()
                .map(|&(k, host)| ip_log(&index, (i, step), (k, host), tz))
                .collect::<Result<Vec<_>, _>>()?;
            step_results.push(LegacyStepResult {
                ip_status: group.status,
                tag: group.tag,
                ip_logs,
            });
        }
        out.push(LegacyStepLog {
            is_finished: step.status.is_some_and(is_finished_status),
            step_instance_id: step.step_instance_id,
            name: step.name.as_deref(),
            status: step.status,
            step_results,
        });
    }
    Data::of(&out)
}

/// One host's legacy `ip_logs[]` item.
fn ip_log<'a>(
    index: &LogIndex<'_>,
    (i, step): (usize, &'a V3Step<'_>),
    (k, host): (usize, &'a V3Host<'_>),
    tz: Tz,
) -> Result<LegacyIpLog<'a>, TranslateError> {
    let at = |key: &str| format!("data.step_instance_list[{i}].step_ip_result_list[{k}].{key}");
    let content = index.find(step.step_instance_id, host).unwrap_or("");
    Ok(LegacyIpLog {
        start_time: time_text(host.start_time, tz, || at("start_time"))?,
        end_time: time_text(host.end_time, tz, || at("end_time"))?,
        total_time: host.total_time.map(legacy_total_time),
        execute_count: step.execute_count,
        error_code: host.error_code,
        exit_code: host.exit_code,
        log_content: html_encode(content),
        bk_cloud_id: host.bk_cloud_id,
        ip: host.ip.as_deref(),
    })
}

/// A legacy `data[]` item: one step's logs.
#[derive(Serialize)]
struct LegacyStepLog<'a> {
    is_finished: bool,
    step_instance_id: i64,
    name: Option<&'a str>,
    status: Option<i64>,
    step_results: Vec<LegacyStepResult<'a>>,
}

/// A legacy `step_results[]` item: the hosts of one status and tag.
#[derive(Serialize)]
struct LegacyStepResult<'a> {
    ip_status: Option<i64>,
    tag: Option<&'a str>,
    ip_logs: Vec<LegacyIpLog<'a>>,
}

/// A legacy `ip_logs[]` item.
#[derive(Serialize)]
struct LegacyIpLog<'a> {
    start_time: Option<String>,
    end_time: Option<String>,
    total_time: Option<f64>,
    execute_count: Option<i64>,
    error_code: Option<i64>,
    exit_code: Option<i64>,
    log_content: String,
    bk_cloud_id: Option<i64>,
    ip: Option<&'a str>,
}

/// HTML-escape a log as JOB's v2 endpoints do (`Utils.htmlEncode`): a blank string
/// (empty or only Java whitespace) becomes `""`; otherwise `&` → `&amp;`, `>` → `&gt;`,
/// `<` → `&lt;`. Quotes and everything else are unchanged.
pub fn html_encode(s: &str) -> String {
    if s.chars().all(is_java_whitespace) {
        return String::new();
    }
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '>' => out.push_str("&gt;"),
            '<' => out.push_str("&lt;"),
            c => out.push(c),
        }
    }
    out
}

/// Java's `Character.isWhitespace`, which `StringUtils.isBlank` uses: space, line and
/// paragraph separators except the no-break spaces, plus `\t \n \x0B \x0C \r \x1C-\x1F`.
fn is_java_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\u{000B}'
            | '\u{000C}'
            | '\r'
            | '\u{001C}'..='\u{001F}'
            | ' '
            | '\u{1680}'
            | '\u{2000}'..='\u{2006}'
            | '\u{2008}'..='\u{200A}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{205F}'
            | '\u{3000}'
    )
}

/// Join file log pieces with newlines, without doubling a newline a piece already ends with.
fn join_file_logs<'a>(pieces: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (n, piece) in pieces.enumerate() {
        if n > 0 && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(piece);
    }
    out
}

// === grouping ===

/// Hosts of one step sharing (`status`, `tag`).
struct Group<'s> {
    status: Option<i64>,
    /// The first member's raw tag.
    tag: Option<&'s str>,
    /// (index in `step_ip_result_list`, host), in v3 order.
    hosts: Vec<(usize, &'s V3Host<'s>)>,
}

/// Group hosts by (`status`, `tag` with `null` = `""`), sorted as JOB sorts them.
fn group_hosts<'s>(hosts: &'s [V3Host<'_>]) -> Vec<Group<'s>> {
    let mut groups: Vec<Group<'s>> = Vec::new();
    let mut by_key: HashMap<(Option<i64>, &'s str), usize> = HashMap::new();
    for (k, host) in hosts.iter().enumerate() {
        let key = (host.status, host.tag.as_deref().unwrap_or(""));
        let gi = *by_key.entry(key).or_insert_with(|| {
            groups.push(Group {
                status: host.status,
                tag: host.tag.as_deref(),
                hosts: Vec::new(),
            });
            groups.len() - 1
        });
        if let Some(g) = groups.get_mut(gi) {
            g.hosts.push((k, host));
        }
    }
    groups.sort_by(|a, b| {
        a.status.cmp(&b.status).then_with(|| {
            let (ta, tb) = (a.tag.unwrap_or(""), b.tag.unwrap_or(""));
            ta.encode_utf16().cmp(tb.encode_utf16())
        })
    });
    groups
}

// === log lookup ===

/// Logs of the batch answers, by (step, host id) and by (step, cloud, ip).
#[derive(Default)]
struct LogIndex<'a> {
    by_host_id: HashMap<(i64, i64), Cow<'a, str>>,
    by_ip: HashMap<(i64, i64), HashMap<&'a str, Cow<'a, str>>>,
}

impl<'a> LogIndex<'a> {
    fn build(status: &V3Status<'_>, logs: &'a [Value]) -> Result<Self, TranslateError> {
        let mut index = LogIndex::default();
        // Positional fallback for answers without `step_instance_id`: the n-th batch.
        let mut batches: Option<Vec<LogBatch>> = None;
        for (n, log) in logs.iter().enumerate() {
            if log.is_null() {
                continue;
            }
            let r = Reader::new(log, format!("logs[{n}]"))?;
            let step = match r.opt_i64("step_instance_id")? {
                Some(id) => id,
                None => batches
                    .get_or_insert_with(|| batches_of(status))
                    .get(n)
                    .map(|b| b.step_instance_id)
                    .ok_or_else(|| {
                        TranslateError::new(
                            RejectReason::Missing,
                            format!("logs[{n}].step_instance_id"),
                            "missing in the upstream answer",
                        )
                    })?,
            };
            for (j, item) in r.opt_array("script_task_logs")?.iter().enumerate() {
                let h = Reader::new(item, format!("logs[{n}].script_task_logs[{j}]"))?;
                let content = h.opt_str("log_content")?.unwrap_or("");
                index.insert(step, &h, Cow::Borrowed(content))?;
            }
            for (j, item) in r.opt_array("file_task_logs")?.iter().enumerate() {
                let h = Reader::new(item, format!("logs[{n}].file_task_logs[{j}]"))?;
                let mut pieces = Vec::new();
                for (f, fl) in h.opt_array("file_logs")?.iter().enumerate() {
                    let fr =
                        Reader::new(fl, format!("logs[{n}].file_task_logs[{j}].file_logs[{f}]"))?;
                    if fr.opt_i64("mode")? == Some(FILE_MODE_UPLOAD) {
                        continue;
                    }
                    if let Some(piece) = fr.opt_str("log_content")? {
                        pieces.push(piece);
                    }
                }
                index.insert(step, &h, Cow::Owned(join_file_logs(pieces.into_iter())))?;
            }
        }
        Ok(index)
    }

    /// Index one host's log under its host id and its cloud + ip; the first one wins.
    fn insert(
        &mut self,
        step: i64,
        host: &Reader<'a>,
        content: Cow<'a, str>,
    ) -> Result<(), TranslateError> {
        let host_id = match host.opt_i64("bk_host_id")? {
            Some(id) => Some(id),
            None => host.opt_i64("host_id")?,
        };
        let ip = host.opt_str("ip")?;
        let cloud = host.opt_i64("bk_cloud_id")?.unwrap_or(0);
        if let Some(ip) = ip {
            self.by_ip
                .entry((step, cloud))
                .or_default()
                .entry(ip)
                .or_insert_with(|| content.clone());
        }
        if let Some(id) = host_id {
            self.by_host_id.entry((step, id)).or_insert(content);
        }
        Ok(())
    }

    /// The log of `host` in `step`: by host id first, then by cloud + ip.
    fn find(&self, step: i64, host: &V3Host<'_>) -> Option<&str> {
        host.bk_host_id
            .and_then(|id| self.by_host_id.get(&(step, id)))
            .or_else(|| {
                let ip = host.ip.as_deref()?;
                self.by_ip
                    .get(&(step, host.bk_cloud_id.unwrap_or(0)))?
                    .get(ip)
            })
            .map(|c| c.as_ref())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const UTC: Tz = chrono_tz::UTC;

    fn host(id: i64, status: i64, tag: Value) -> Value {
        json!({"bk_host_id": id, "ip": format!("10.0.0.{id}"), "bk_cloud_id": 0,
               "status": status, "tag": tag, "exit_code": 0, "error_code": 0,
               "start_time": 1_700_000_000_000_i64, "end_time": 1_700_000_001_500_i64,
               "total_time": 1500})
    }

    fn status(hosts: Vec<Value>) -> Value {
        json!({
            "finished": true,
            "job_instance": {"job_instance_id": 100, "bk_scope_type": "biz", "bk_scope_id": "2",
                             "bk_biz_id": 2, "name": "j", "status": 3},
            "step_instance_list": [{
                "step_instance_id": 200, "name": "s", "type": 1, "status": 4,
                "execute_count": 1, "step_ip_result_list": hosts,
            }],
        })
    }

    #[test]
    fn html_encode_matches_utils_html_encode() {
        assert_eq!(
            html_encode("<script>alert(\"x\" & 'y')</script>"),
            "&lt;script&gt;alert(\"x\" &amp; 'y')&lt;/script&gt;"
        );
        assert_eq!(html_encode("&amp;"), "&amp;amp;");
        assert_eq!(html_encode("中文 ✓ 🙂"), "中文 ✓ 🙂");
        // Blank (Java whitespace only) → "".
        assert_eq!(html_encode(""), "");
        assert_eq!(html_encode(" \t\r\n\u{000B}\u{000C}\u{001F}\u{3000}"), "");
        // No-break spaces are not Java whitespace, so not blank; surrounding blanks stay.
        assert_eq!(html_encode("\u{00A0}"), "\u{00A0}");
        assert_eq!(html_encode(" a \n"), " a \n");
    }

    #[test]
    fn groups_are_sorted_by_status_then_tag_as_job_does() {
        let hosts = vec![
            host(1, 11, json!("b")),
            host(2, 9, json!("")),
            host(3, 11, json!("a")),
            host(4, 9, Value::Null),
            host(5, 11, json!("b")),
            host(6, 104, json!("a")),
        ];
        let out = to_legacy_log(&status(hosts), &[], UTC).unwrap().into_tree();
        let results = out[0]["step_results"].as_array().unwrap();
        let keys: Vec<(Value, Value, Vec<Value>)> = results
            .iter()
            .map(|r| {
                let ips = r["ip_logs"].as_array().unwrap();
                (
                    r["ip_status"].clone(),
                    r["tag"].clone(),
                    ips.iter().map(|l| l["ip"].clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            vec![
                // null and "" share a group; the first member's raw tag is shown.
                (
                    json!(9),
                    json!(""),
                    vec![json!("10.0.0.2"), json!("10.0.0.4")]
                ),
                (json!(11), json!("a"), vec![json!("10.0.0.3")]),
                (
                    json!(11),
                    json!("b"),
                    vec![json!("10.0.0.1"), json!("10.0.0.5")]
                ),
                (json!(104), json!("a"), vec![json!("10.0.0.6")]),
            ]
        );
    }

    #[test]
    fn tags_compare_in_utf16_order() {
        // U+FF21 sorts after U+1F600 in UTF-16 (a surrogate pair starts with 0xD83D),
        // but before it in code point order.
        let hosts = vec![
            host(1, 9, json!("\u{FF21}")),
            host(2, 9, json!("\u{1F600}")),
        ];
        let out = to_legacy_log(&status(hosts), &[], UTC).unwrap().into_tree();
        assert_eq!(out[0]["step_results"][0]["tag"], "\u{1F600}");
        assert_eq!(out[0]["step_results"][1]["tag"], "\u{FF21}");
    }

    #[test]
    fn ip_log_fields_and_missing_log() {
        let logs = [
            json!({"job_instance_id": 100, "step_instance_id": 200, "log_type": 1,
            "script_task_logs": [{"host_id": 1, "bk_host_id": 1, "bk_cloud_id": 0,
                                  "ip": "10.0.0.1", "log_content": "a<b"}]}),
        ];
        let out = to_legacy_log(
            &status(vec![host(1, 9, json!("")), host(2, 9, json!(""))]),
            &logs,
            UTC,
        )
        .unwrap()
        .into_tree();
        let step = &out[0];
        assert_eq!(step["is_finished"], true);
        assert_eq!(step["status"], 4);
        let ip_logs = &step["step_results"][0]["ip_logs"];
        assert_eq!(
            ip_logs[0],
            json!({"start_time": "2023-11-14 22:13:20", "end_time": "2023-11-14 22:13:21",
                   "total_time": 1.5, "execute_count": 1, "error_code": 0, "exit_code": 0,
                   "log_content": "a&lt;b", "bk_cloud_id": 0, "ip": "10.0.0.1"})
        );
        assert_eq!(ip_logs[1]["log_content"], "");
    }

    #[test]
    fn logs_match_by_ip_when_host_ids_are_absent() {
        let mut h = host(7, 9, json!(""));
        if let Some(m) = h.as_object_mut() {
            m.remove("bk_host_id");
        }
        let logs = [json!({"step_instance_id": 200, "script_task_logs": [
            {"bk_cloud_id": 0, "ip": "10.0.0.7", "log_content": "by ip"}]})];
        let out = to_legacy_log(&status(vec![h]), &logs, UTC)
            .unwrap()
            .into_tree();
        assert_eq!(
            out[0]["step_results"][0]["ip_logs"][0]["log_content"],
            "by ip"
        );
    }

    #[test]
    fn file_logs_are_joined_without_doubling_newlines() {
        assert_eq!(join_file_logs(["a", "b"].into_iter()), "a\nb");
        assert_eq!(join_file_logs(["a\n", "b\n"].into_iter()), "a\nb\n");
        assert_eq!(join_file_logs(std::iter::empty()), "");
        let logs = [
            json!({"step_instance_id": 200, "log_type": 2, "file_task_logs": [
            {"bk_cloud_id": 0, "ip": "10.0.0.1", "file_logs": [
                {"mode": 0, "log_content": "upload side"},
                {"mode": 1, "log_content": "first"},
                {"mode": 1, "log_content": null},
                {"mode": 1, "log_content": "second & last"},
            ]}]}),
        ];
        let out = to_legacy_log(&status(vec![host(1, 9, json!(""))]), &logs, UTC)
            .unwrap()
            .into_tree();
        assert_eq!(
            out[0]["step_results"][0]["ip_logs"][0]["log_content"],
            "first\nsecond &amp; last"
        );
    }

    #[test]
    fn batches_split_ids_and_ips_and_drop_duplicates() {
        let mut no_id = host(9, 9, json!(""));
        no_id["bk_host_id"] = Value::Null;
        let hosts = vec![
            host(1, 9, json!("")),
            no_id.clone(),
            host(1, 9, json!("")),
            no_id,
        ];
        let batches = log_batches(&status(hosts));
        assert_eq!(
            batches,
            vec![
                LogBatch {
                    step_instance_id: 200,
                    body: json!({"bk_scope_type": "biz", "bk_scope_id": "2",
                                 "job_instance_id": 100, "step_instance_id": 200,
                                 "host_id_list": [1]}),
                },
                LogBatch {
                    step_instance_id: 200,
                    body: json!({"bk_scope_type": "biz", "bk_scope_id": "2",
                                 "job_instance_id": 100, "step_instance_id": 200,
                                 "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.9"}]}),
                },
            ]
        );
        assert!(log_batches(&json!({"nope": 1})).is_empty());
    }

    #[test]
    fn batches_hold_at_most_500_hosts() {
        let hosts: Vec<Value> = (1..=1001).map(|i| host(i, 9, json!(""))).collect();
        let sizes: Vec<usize> = log_batches(&status(hosts))
            .iter()
            .map(|b| b.body["host_id_list"].as_array().map_or(0, Vec::len))
            .collect();
        assert_eq!(sizes, vec![500, 500, 1]);
    }

    #[test]
    fn log_answers_without_step_id_pair_with_their_batch() {
        let logs = [json!({"script_task_logs": [
            {"bk_host_id": 1, "bk_cloud_id": 0, "ip": "10.0.0.1", "log_content": "x"}]})];
        let out = to_legacy_log(&status(vec![host(1, 9, json!(""))]), &logs, UTC)
            .unwrap()
            .into_tree();
        assert_eq!(out[0]["step_results"][0]["ip_logs"][0]["log_content"], "x");

        let extra = [logs[0].clone(), logs[0].clone()];
        let err = to_legacy_log(&status(vec![host(1, 9, json!(""))]), &extra, UTC).unwrap_err();
        assert_eq!(err.field, "logs[1].step_instance_id");
    }

    #[test]
    fn malformed_logs_are_errors_and_null_answers_are_skipped() {
        let st = status(vec![host(1, 9, json!(""))]);
        assert!(to_legacy_log(&st, &[Value::Null], UTC).is_ok());
        let err = to_legacy_log(&st, &[json!("x")], UTC).unwrap_err();
        assert_eq!(
            (err.reason, err.field.as_str()),
            (RejectReason::Type, "logs[0]")
        );
        let bad = [json!({"step_instance_id": 200, "script_task_logs": [{"log_content": 5}]})];
        let err = to_legacy_log(&st, &bad, UTC).unwrap_err();
        assert_eq!(err.field, "logs[0].script_task_logs[0].log_content");
    }
}
