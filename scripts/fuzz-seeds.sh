#!/usr/bin/env bash
# Writes the fuzz seed corpora into $1/<target>/ from tests/fixtures and the shipped
# configuration. Idempotent: seeds are named after their source.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: fuzz-seeds.sh <corpus dir>}
mkdir -p "$out"/{legacy_request,credentials,upstream_reply,config}

python3 - "$out" <<'PY'
import json, os, sys, glob
out = sys.argv[1]
def write(target, name, data):
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
fx = "tests/fixtures"
for d in sorted(glob.glob(f"{fx}/requests/*/")):
    name = os.path.basename(d.rstrip("/"))
    meta = json.load(open(d + "meta.json"))
    body = open(d + "legacy.json", "rb").read()
    write("legacy_request", name, meta.get("path", "").encode() + b"\n" + body)
for d in sorted(glob.glob(f"{fx}/status/*/")):
    name = os.path.basename(d.rstrip("/"))
    status = json.load(open(d + "v3.json"))
    write("upstream_reply", "status_" + name, json.dumps({"status": status}))
    write("upstream_reply", "reply_" + name, json.dumps(status))
for d in sorted(glob.glob(f"{fx}/log/*/")):
    name = os.path.basename(d.rstrip("/"))
    status = json.load(open(d + "status.json"))
    logs = json.load(open(d + "logs.json"))
    write("upstream_reply", "log_" + name, json.dumps({"status": status, "logs": logs}))
write("upstream_reply", "gateway_error",
      '{"code":1640001,"data":null,"code_name":"UNAUTHORIZED","message":"app not found","result":false}')
headers = [
    '{"bk_app_code":"app","bk_app_secret":"secret","bk_username":"admin"}',
    '{"app_code":"app","app_secret":"s","bk_token":"tok"}',
    '{"bk_app_code":"app","access_token":"at","jwt":"a.b.c"}',
    '{"bk_app_code":"a","bk_app_code":"b"}',
    '{"bk_app_code":"a","other":1}',
    'bk_app_code=app&bk_app_secret=s%20x&bk_username=%E5%BC%A0',
    'a=1; bk_token=cookie-token; c=3',
    'eyJhbGciOiJSUzUxMiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJBUElHVyJ9.c2ln',
]
for i, h in enumerate(headers):
    write("credentials", f"seed_{i}", h)
write("config", "shipped", open("config/bk-job-shim.toml", "rb").read())
write("config", "env", "[server]\nlisten = \"127.0.0.1:0\"\n\0BK_JOB_SHIM_AUTH__JWT__REQUIRED=false\nBK_JOB_SHIM_RATE_LIMIT__RATES={__default=[{period=1,tokens=5}]}\n")
PY
