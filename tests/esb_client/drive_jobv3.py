"""Drive every `jobv3` operation of the real ESB client (`bkapi-component-open`) against
a running shim, unchanged: `Client(endpoint=..., bk_api_ver="v2")`, credentials set with
`update_bkapi_authorization` (the client sends them in `X-Bkapi-Authorization`), the
operations called as apps call them (`client.jobv3.<name>(params)`; the client sends the
`get_*` ones as GET with a query string, the others as POST with a JSON body).

Usage: python drive_jobv3.py <shim base url>

Prints one JSON object per line: {"operation", "method" (what the client sent),
"code", "result"} for every operation, then {"done": <count>}. Exits non-zero when an
operation raised (transport error, non-JSON reply, HTTP error status).
"""

import json
import sys

from bkapi_component.open.client import Client, Jobv3Group

SCOPE = {"bk_scope_type": "biz", "bk_scope_id": "2"}

# A plausible body for the operations that need ids; the recording gateway answers
# every call, so only the shape matters here.
EXTRA = {
    "get_job_instance_status": {"job_instance_id": 10},
    "get_job_instance_global_var_value": {"job_instance_id": 10},
    "get_job_instance_ip_log": {"job_instance_id": 10, "step_instance_id": 20, "bk_host_id": 101},
    "get_job_instance_list": {"create_time_start": 1700000000000, "create_time_end": 1700086400000},
    "get_job_plan_detail": {"job_plan_id": 1},
    "get_cron_detail": {"id": 1},
    "get_script_version_detail": {"id": 1},
    "get_public_script_version_detail": {"id": 1},
    "get_script_version_list": {"script_id": "s1"},
    "get_public_script_version_list": {"script_id": "p1"},
    "get_account_list": {"category": 1},
    "execute_job_plan": {"job_plan_id": 1},
    "fast_execute_script": {
        "script_content": "ZWNobyBoaQ==",
        "script_language": 1,
        "account_alias": "root",
        "target_server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]},
    },
    "operate_job_instance": {"job_instance_id": 10, "operation_code": 1},
    "operate_step_instance": {"job_instance_id": 10, "step_instance_id": 20, "operation_code": 2},
    "save_cron": {"job_plan_id": 1, "name": "c", "expression": "0 * * * *"},
    "update_cron_status": {"id": 1, "status": 1},
}


def _is_operation(name):
    """True for the operations of the client's `jobv3` group (bound properties)."""
    prop = Jobv3Group.__dict__.get(name)
    return not name.startswith("_") and type(prop).__name__ == "BindProperty"


def main():
    base = sys.argv[1]
    client = Client(endpoint=base, bk_api_ver="v2")
    client.update_bkapi_authorization(
        bk_app_code="esb-app", bk_app_secret="esb-secret", bk_username="admin"
    )
    names = sorted(n for n in Jobv3Group.__dict__ if _is_operation(n))
    failed = 0
    for name in names:
        op = getattr(client.jobv3, name)
        params = dict(SCOPE)
        params.update(EXTRA.get(name, {}))
        line = {"operation": name, "method": op.method}
        try:
            reply = op(params)
            line.update({"code": reply.get("code"), "result": reply.get("result")})
        except Exception as e:  # noqa: BLE001 - report every failure, go on
            failed += 1
            line["error"] = "%s: %s" % (type(e).__name__, e)
        print(json.dumps(line), flush=True)
    print(json.dumps({"done": len(names), "failed": failed}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
