//! Readers of the structured parts of legacy bodies, built on the scalar readers of
//! [`super`]: the business scope, host targets (IP lists, dynamic groups, topology
//! nodes), the whole legacy bodies of the seed-era calls, and the light checks of ESB
//! `jobv3` bodies that pass through unchanged.

use super::*;

// ---------------------------------------------------------------------------------------
// Scope
// ---------------------------------------------------------------------------------------

/// The scope of a body: `bk_scope_type` + `bk_scope_id` when either is given (bk-job
/// `fillAppResourceScope`: then both are required), else `bk_biz_id` (ids 8000000..=9999999
/// are business sets), else `None`.
pub fn scope(m: &Map<String, Value>, p: &Path<'_>) -> Result<Option<Scope>> {
    let tp = p.key("bk_scope_type");
    let ip = p.key("bk_scope_id");
    let ty = opt_str(m.get("bk_scope_type"), &tp)?.filter(|s| !s.trim().is_empty());
    let id = opt_str(m.get("bk_scope_id"), &ip)?.filter(|s| !s.trim().is_empty());
    if ty.is_some() || id.is_some() {
        let ty = ty.ok_or_else(|| missing(&tp, "is required with bk_scope_id (biz or biz_set)"))?;
        let id = id.ok_or_else(|| missing(&ip, "is required with bk_scope_type"))?;
        let bk_scope_type = match ty.as_ref() {
            "biz" => "biz",
            "biz_set" => "biz_set",
            other => {
                return Err(invalid(
                    &tp,
                    format!("must be biz or biz_set, got {}", quote(other)),
                ));
            }
        };
        return Ok(Some(Scope {
            bk_scope_type,
            bk_scope_id: id.into_owned(),
        }));
    }
    let bp = p.key("bk_biz_id");
    match opt_int(m.get("bk_biz_id"), &bp)? {
        Some(biz) if biz >= 1 => Ok(Some(Scope::from_biz_id(biz))),
        Some(biz) => Err(invalid(&bp, format!("must be a positive id, got {biz}"))),
        None => Ok(None),
    }
}

/// A scope that must be present (every legacy `job` API).
pub fn required_scope(m: &Map<String, Value>, p: &Path<'_>) -> Result<Scope> {
    scope(m, p)?.ok_or_else(|| {
        missing(
            &p.key("bk_biz_id"),
            "is required (or bk_scope_type + bk_scope_id)",
        )
    })
}

// ---------------------------------------------------------------------------------------
// Hosts
// ---------------------------------------------------------------------------------------

/// An `ip_list` item `{bk_cloud_id, ip}` (same in v2 and v3).
pub fn ip_item(v: &Value, p: &Path<'_>) -> Result<LegacyIp> {
    let m = object(v, p)?;
    let cp = p.key("bk_cloud_id");
    let bk_cloud_id = req_int(field(m, "bk_cloud_id"), &cp)?;
    if bk_cloud_id < 0 {
        return Err(invalid(&cp, format!("must be >= 0, got {bk_cloud_id}")));
    }
    let ipp = p.key("ip");
    let raw = opt_str(field(m, "ip"), &ipp)?.ok_or_else(|| missing(&ipp, "is required"))?;
    Ok(LegacyIp {
        bk_cloud_id,
        ip: ipv4(&raw, &ipp)?,
    })
}

/// An optional array, each item read by `item` at its own path; the first refusal wins.
fn opt_items<T>(
    v: Option<&Value>,
    p: &Path<'_>,
    item: impl Fn(&Value, &Path<'_>) -> Result<T>,
) -> Result<Option<Vec<T>>> {
    let Some(items) = opt_array(v, p)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, x) in items.iter().enumerate() {
        out.push(item(x, &p.index(i))?);
    }
    Ok(Some(out))
}

/// An optional `ip_list`.
pub fn opt_ip_list(v: Option<&Value>, p: &Path<'_>) -> Result<Option<Vec<LegacyIp>>> {
    opt_items(v, p, ip_item)
}

/// An optional list of dynamic group ids (legacy `custom_query_id` /
/// `dynamic_group_id_list`), normalised.
pub fn opt_group_ids(v: Option<&Value>, p: &Path<'_>) -> Result<Option<Vec<String>>> {
    opt_items(v, p, |item, ip| match opt_str(Some(item), ip)? {
        Some(s) if !s.trim().is_empty() => Ok(normalise_group_id(&s).to_owned()),
        _ => Err(invalid(ip, "dynamic group id must not be empty")),
    })
}

/// A `topo_node_list` item `{id, node_type}`.
pub fn topo_node(v: &Value, p: &Path<'_>) -> Result<TopoNode> {
    let m = object(v, p)?;
    Ok(TopoNode {
        id: req_int(field(m, "id"), &p.key("id"))?,
        node_type: req_nonblank(field(m, "node_type"), &p.key("node_type"))?,
    })
}

/// An optional `topo_node_list`.
pub fn opt_topo_nodes(v: Option<&Value>, p: &Path<'_>) -> Result<Option<Vec<TopoNode>>> {
    opt_items(v, p, topo_node)
}

/// A legacy `target_server` object.
pub fn legacy_server(m: &Map<String, Value>, p: &Path<'_>) -> Result<LegacyServer> {
    Ok(LegacyServer {
        ip_list: opt_ip_list(m.get("ip_list"), &p.key("ip_list"))?,
        dynamic_group_id_list: opt_group_ids(
            m.get("dynamic_group_id_list"),
            &p.key("dynamic_group_id_list"),
        )?,
        topo_node_list: opt_topo_nodes(m.get("topo_node_list"), &p.key("topo_node_list"))?,
    })
}

/// The legacy host keys `target_server`, `ip_list`, `custom_query_id` of object `m`.
pub fn host_target(m: &Map<String, Value>, p: &Path<'_>) -> Result<LegacyHostTarget> {
    host_target_read(m, p, None)
}

/// [`host_target`], with `ip_list` already read when `read` is given (`translate::fast`).
pub fn host_target_read(
    m: &Map<String, Value>,
    p: &Path<'_>,
    read: Option<Vec<LegacyIp>>,
) -> Result<LegacyHostTarget> {
    let tp = p.key("target_server");
    Ok(LegacyHostTarget {
        target_server: match opt_object(m.get("target_server"), &tp)? {
            Some(ts) => Some(legacy_server(ts, &tp)?),
            None => None,
        },
        ip_list: match read {
            Some(ips) => Some(ips),
            None => opt_ip_list(m.get("ip_list"), &p.key("ip_list"))?,
        },
        custom_query_id: opt_group_ids(m.get("custom_query_id"), &p.key("custom_query_id"))?,
    })
}

/// Fail with `Missing` at `p` when `server` names no host, group or node.
pub fn require_hosts(server: &V3Server, p: &Path<'_>, detail: &str) -> Result<()> {
    if server.is_empty() {
        return Err(missing(p, detail));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Legacy bodies
// ---------------------------------------------------------------------------------------

/// Read a legacy `job/execute_job` body (docs A, B); `steps` is handled by the caller.
/// `read`: its `global_vars`, when already read (`translate::fast`), else they are
/// read from `m`.
pub fn legacy_execute_job(
    m: &Map<String, Value>,
    read: Option<Vec<LegacyGlobalVar>>,
) -> Result<LegacyExecuteJob> {
    let root = Path::ROOT;
    let scope = required_scope(m, &root)?;
    let bk_job_id = req_positive(m.get("bk_job_id"), &root.key("bk_job_id"))?;
    let global_vars = match read {
        Some(vars) => Some(vars),
        None => opt_items(
            m.get("global_vars"),
            &root.key("global_vars"),
            legacy_global_var,
        )?,
    };
    Ok(LegacyExecuteJob {
        scope,
        bk_job_id,
        global_vars,
        bk_callback_url: callback_url(m.get("bk_callback_url"), &root.key("bk_callback_url"))?,
    })
}

/// Read a legacy `global_vars[]` item. It needs an id > 0 or a non-blank name (bk-job
/// v2 `checkExecuteTaskRequest`).
pub fn legacy_global_var(v: &Value, p: &Path<'_>) -> Result<LegacyGlobalVar> {
    let m = object(v, p)?;
    let idp = p.key("id");
    let id = opt_int(m.get("id"), &idp)?;
    let name = opt_str(m.get("name"), &p.key("name"))?
        .filter(|n| !n.trim().is_empty())
        .map(Cow::into_owned);
    match id {
        Some(i) if i < 1 && name.is_none() => {
            return Err(invalid(
                &idp,
                format!("must be a positive variable id, or give the variable name, got {i}"),
            ));
        }
        None if name.is_none() => {
            return Err(missing(
                &idp,
                "a global variable needs an id > 0 or a non-empty name",
            ));
        }
        _ => {}
    }
    Ok(LegacyGlobalVar {
        id,
        name,
        value: opt_str(m.get("value"), &p.key("value"))?.map(Cow::into_owned),
        target: host_target(m, p)?,
    })
}

/// Read a legacy `job/fast_execute_script` body (spec §3.3); `read`: its `ip_list`,
/// when already read (`translate::fast`).
pub fn legacy_fast_execute_script(
    m: &Map<String, Value>,
    read: Option<Vec<LegacyIp>>,
) -> Result<LegacyFastExecuteScript> {
    let root = Path::ROOT;
    let scope = required_scope(m, &root)?;
    let script_id = opt_positive(m.get("script_id"), &root.key("script_id"))?;
    let cp = root.key("script_content");
    let script_content = opt_nonempty(m.get("script_content"), &cp)?;
    if let Some(c) = &script_content {
        base64_field(c, &cp, MAX_SCRIPT_BYTES)?;
    }
    let tp = root.key("script_type");
    let script_type = opt_int_in(m.get("script_type"), &tp, &SCRIPT_LANGUAGES, "")?;
    let is_param_sensitive = opt_flag(
        m.get("is_param_sensitive"),
        &root.key("is_param_sensitive"),
        true,
    )?;
    let pp = root.key("script_param");
    let script_param = opt_nonempty(m.get("script_param"), &pp)?;
    if let Some(sp) = &script_param {
        base64_field(sp, &pp, param_limit(is_param_sensitive))?;
    }
    let script_timeout = opt_int_in(
        m.get("script_timeout"),
        &root.key("script_timeout"),
        &TIMEOUT_RANGE,
        " seconds",
    )?;
    let account = req_nonblank(m.get("account"), &root.key("account"))?;
    let task_name = opt_nonempty(m.get("task_name"), &root.key("task_name"))?;
    let target = host_target_read(m, &root, read)?;
    let bk_callback_url = callback_url(m.get("bk_callback_url"), &root.key("bk_callback_url"))?;

    if script_id.is_none() && script_content.is_none() {
        return Err(missing(
            &cp,
            "give script_id (a script version id) or script_content (Base64)",
        ));
    }
    if script_id.is_none() && script_type.is_none() {
        return Err(missing(
            &tp,
            "is required with script_content (1 shell, 2 bat, 3 perl, 4 python, 5 powershell)",
        ));
    }
    Ok(LegacyFastExecuteScript {
        scope,
        script_id,
        script_content,
        script_type,
        script_param,
        script_timeout,
        account,
        is_param_sensitive,
        task_name,
        target,
        bk_callback_url,
    })
}

fn param_limit(is_param_sensitive: Option<i64>) -> usize {
    if is_param_sensitive == Some(1) {
        MAX_SENSITIVE_PARAM_BYTES
    } else {
        MAX_PARAM_BYTES
    }
}

/// Read a legacy `job/fast_push_file` body (spec §3.4).
pub fn legacy_fast_push_file(m: &Map<String, Value>) -> Result<LegacyFastPushFile> {
    let root = Path::ROOT;
    let scope = required_scope(m, &root)?;
    let file_target_path = req_nonblank(m.get("file_target_path"), &root.key("file_target_path"))?;
    let account = req_nonblank(m.get("account"), &root.key("account"))?;
    let fp = root.key("file_source");
    let items = opt_array(m.get("file_source"), &fp)?.ok_or_else(|| missing(&fp, "is required"))?;
    if items.is_empty() {
        return Err(missing(&fp, "must name at least one source"));
    }
    let mut file_source = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        file_source.push(legacy_file_source(item, &fp.index(i))?);
    }
    let speed = 0..=i64::from(i32::MAX);
    Ok(LegacyFastPushFile {
        scope,
        file_target_path,
        account,
        file_source,
        target: host_target(m, &root)?,
        timeout: opt_int_in(
            m.get("timeout"),
            &root.key("timeout"),
            &TIMEOUT_RANGE,
            " seconds",
        )?,
        download_speed_limit: opt_int_in(
            m.get("download_speed_limit"),
            &root.key("download_speed_limit"),
            &speed,
            " MB/s",
        )?,
        upload_speed_limit: opt_int_in(
            m.get("upload_speed_limit"),
            &root.key("upload_speed_limit"),
            &speed,
            " MB/s",
        )?,
        task_name: opt_nonempty(m.get("task_name"), &root.key("task_name"))?,
        bk_callback_url: callback_url(m.get("bk_callback_url"), &root.key("bk_callback_url"))?,
    })
}

/// Read a legacy `file_source[]` item.
pub fn legacy_file_source(v: &Value, p: &Path<'_>) -> Result<LegacyFileSource> {
    let m = object(v, p)?;
    let fp = p.key("files");
    let items = opt_array(m.get("files"), &fp)?.ok_or_else(|| missing(&fp, "is required"))?;
    if items.is_empty() {
        return Err(missing(&fp, "must name at least one file"));
    }
    let mut files = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        files.push(req_nonblank(Some(item), &fp.index(i))?);
    }
    Ok(LegacyFileSource {
        files,
        account: req_nonblank(m.get("account"), &p.key("account"))?,
        target: host_target(m, p)?,
    })
}

/// Read legacy `get_job_instance_status` / `get_job_instance_log` parameters.
pub fn legacy_job_instance_query(m: &Map<String, Value>) -> Result<LegacyJobInstanceQuery> {
    let root = Path::ROOT;
    Ok(LegacyJobInstanceQuery {
        scope: required_scope(m, &root)?,
        job_instance_id: req_positive(m.get("job_instance_id"), &root.key("job_instance_id"))?,
    })
}

// ---------------------------------------------------------------------------------------
// Light checks of ESB jobv3 bodies (passed through unchanged)
// ---------------------------------------------------------------------------------------

/// Check a v3 `server` object; returns whether it names any host, group or node.
pub fn v3_server(m: &Map<String, Value>, p: &Path<'_>) -> Result<bool> {
    let mut any = false;
    let hp = p.key("host_id_list");
    if let Some(items) = opt_array(m.get("host_id_list"), &hp)? {
        for (i, item) in items.iter().enumerate() {
            req_positive(Some(item), &hp.index(i))?;
        }
        any |= !items.is_empty();
    }
    if let Some(ips) = opt_ip_list(m.get("ip_list"), &p.key("ip_list"))? {
        any |= !ips.is_empty();
    }
    let gp = p.key("dynamic_group_list");
    if let Some(items) = opt_array(m.get("dynamic_group_list"), &gp)? {
        for (i, item) in items.iter().enumerate() {
            let ip = gp.index(i);
            req_nonblank(object(item, &ip)?.get("id"), &ip.key("id"))?;
        }
        any |= !items.is_empty();
    }
    if let Some(nodes) = opt_topo_nodes(m.get("topo_node_list"), &p.key("topo_node_list"))? {
        any |= !nodes.is_empty();
    }
    Ok(any)
}

/// Light check of a jobv3 `execute_job_plan` body (doc C).
pub fn v3_execute_job_plan(m: &Map<String, Value>) -> Result<()> {
    let root = Path::ROOT;
    req_positive(m.get("job_plan_id"), &root.key("job_plan_id"))?;
    let gp = root.key("global_var_list");
    if let Some(items) = opt_array(m.get("global_var_list"), &gp)? {
        for (i, item) in items.iter().enumerate() {
            let ip = gp.index(i);
            let gm = object(item, &ip)?;
            let id = opt_positive(gm.get("id"), &ip.key("id"))?;
            let name = opt_str(gm.get("name"), &ip.key("name"))?;
            if id.is_none() && name.is_none_or(|n| n.trim().is_empty()) {
                return Err(missing(
                    &ip.key("id"),
                    "a global variable needs an id > 0 or a non-empty name",
                ));
            }
            opt_str(gm.get("value"), &ip.key("value"))?;
            let sp = ip.key("server");
            if let Some(server) = opt_object(gm.get("server"), &sp)? {
                v3_server(server, &sp)?;
            }
        }
    }
    callback_url(m.get("callback_url"), &root.key("callback_url"))?;
    Ok(())
}

/// Light check of a jobv3 `fast_execute_script` body (doc D).
pub fn v3_fast_execute_script(m: &Map<String, Value>) -> Result<()> {
    let root = Path::ROOT;
    let version = opt_positive(m.get("script_version_id"), &root.key("script_version_id"))?;
    let script_id = opt_nonempty(m.get("script_id"), &root.key("script_id"))?;
    let cp = root.key("script_content");
    let content = opt_nonempty(m.get("script_content"), &cp)?;
    if let Some(c) = &content {
        base64_field(c, &cp, MAX_SCRIPT_BYTES)?;
    }
    let lp = root.key("script_language");
    let language = opt_int_in(m.get("script_language"), &lp, &SCRIPT_LANGUAGES, "")?;
    let sensitive = opt_flag(
        m.get("is_param_sensitive"),
        &root.key("is_param_sensitive"),
        false,
    )?;
    let pp = root.key("script_param");
    if let Some(sp) = opt_nonempty(m.get("script_param"), &pp)? {
        base64_field(&sp, &pp, param_limit(sensitive))?;
    }
    opt_int_in(
        m.get("timeout"),
        &root.key("timeout"),
        &TIMEOUT_RANGE,
        " seconds",
    )?;
    opt_positive(m.get("account_id"), &root.key("account_id"))?;
    opt_str(m.get("account_alias"), &root.key("account_alias"))?;
    opt_str(m.get("task_name"), &root.key("task_name"))?;
    callback_url(m.get("callback_url"), &root.key("callback_url"))?;
    let tp = root.key("target_server");
    let target =
        opt_object(m.get("target_server"), &tp)?.ok_or_else(|| missing(&tp, "is required"))?;
    if !v3_server(target, &tp)? {
        return Err(missing(
            &tp,
            "names no host: give host_id_list, ip_list, dynamic_group_list or topo_node_list",
        ));
    }
    if version.is_none() && script_id.is_none() && content.is_none() {
        return Err(missing(
            &cp,
            "give script_version_id, script_id or script_content",
        ));
    }
    if version.is_none() && script_id.is_none() && language.is_none() {
        return Err(missing(&lp, "is required with script_content"));
    }
    Ok(())
}
