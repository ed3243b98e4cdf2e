#!/usr/bin/env bash
# Proxy benchmark (issue 12, DESIGN §7): one upstream, loaded in one run on one machine
# directly, through nginx `proxy_pass` (upstream keepalive), through HAProxy and through
# bk-job-shim, with the same legacy calls, in alternating rounds. A fifth path, `hyper`, is
# the floor of the shim's own HTTP stack: `examples/bare_proxy.rs`, hyper's server and
# hyper-util's pooled client forwarding the v3 request unchanged and doing nothing else
# (shim/hyper is what translation, auth, rate limiting, metrics and the log cost on top of
# the stack; hyper/nginx is what the stack itself costs against nginx). The same upstream
# also listens with HTTPS (a CA and certificate made with openssl at start): nginx and the
# shim are loaded against it too (`nginx_tls`, `shim_tls`: pooled connections, so the
# handshake is amortised; the shim verifies the certificate against the CA). Prints req/s,
# p50, p99 and CPU µs per request of each proxy (utime+stime from /proc/<pid>/stat), the
# ratios shim/nginx, shim/direct, shim/hyper and hyper/nginx with their spread over rounds,
# and the resident memory of the shim and of the bare hyper proxy at 64 and 256
# connections. Nothing is asserted: read the ratios.
#
#   benches/proxy.sh            full run (release build, ROUNDS x 3 bodies x 7 paths)
#   benches/proxy.sh --smoke    a few seconds: every component starts, every path answers
#                               every body correctly, one short load each (CI runs this)
#
# Environment: ROUNDS (3), DURATION seconds per load (5), CONNS (64), WORKERS per proxy (1:
# nginx worker_processes, haproxy nbthread, shim server.worker_threads, the bare hyper
# proxy's tokio workers), UPSTREAM_WORKERS (1), PROXY_CPUS / LOAD_CPUS (taskset CPU lists:
# the proxy under test, and wrk + upstream; unset = unpinned), PROFILE (release; debug in
# --smoke), LOADS_256 (1: consecutive loads of the shim, then of the bare proxy, at 256
# connections; more show where the peak settles in one process, the steady state;
# ROUNDS=0 skips the timed rounds).
#
# The upstream is nginx answering fixed bk-job v3 replies. The shim receives the legacy
# call and translates it (legacy → v3 request, v3 reply → legacy envelope); direct, nginx,
# HAProxy and the bare hyper proxy send the exact v3 request the shim sends (captured once
# at the start).
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1
if [ $SMOKE = 1 ]; then
  ROUNDS=1 DURATION=1 CONNS=${CONNS:-8} PROFILE=${PROFILE:-debug}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
WORKERS=${WORKERS:-1}
UPSTREAM_WORKERS=${UPSTREAM_WORKERS:-1}
PROFILE=${PROFILE:-release}
LOADS_256=${LOADS_256:-1}

die() { echo "proxy.sh: FAILED: $*" >&2; exit 1; }

# --- tools ---------------------------------------------------------------------------
need=()
for t in nginx haproxy wrk curl python3 openssl; do
  command -v $t >/dev/null 2>&1 || [ -x /usr/sbin/$t ] || need+=("$t")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends "${need[@]}" >/dev/null \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; } \
    || die "could not install ${need[*]}"
fi
export PATH="$PATH:/usr/sbin"

if [ "$PROFILE" = release ]; then
  # Built as deploy/Dockerfile builds the image: relative relocations packed where the
  # C library supports it (glibc >= 2.36), in a target directory of its own (other flags
  # than a plain release build, which they would otherwise rebuild each time).
  image_flags=""
  glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
  if [ -n "$glibc" ] && [ "$(printf '%s\n2.36\n' "$glibc" | sort -V | head -1)" = 2.36 ]; then
    image_flags="-C link-arg=-Wl,-z,pack-relative-relocs"
  else
    echo "glibc ${glibc:-absent} < 2.36: built without the image's packed relocations"
  fi
  CARGO_TARGET_DIR=target/image RUSTFLAGS="$image_flags" \
    cargo build --locked --release -q --bin bk-job-shim --example bare_proxy
  BIN=target/image/release/bk-job-shim; FLOOR=target/image/release/examples/bare_proxy
else
  # The development binary `cargo test` builds (with the dev-dependencies' features, so a
  # `cargo build` would compile every crate again): free right after the test run.
  # `cargo test` builds the examples too.
  cargo test --locked -q --no-run 2>/dev/null; BIN=target/debug/bk-job-shim
  FLOOR=target/debug/examples/bare_proxy
fi

WORK=$(mktemp -d)
chmod 755 "$WORK" # nginx workers may run as another user
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Free loopback ports, all distinct: upstream (http, https), capture, shim (three times) +
# admin, nginx (to http and to https), haproxy, the bare hyper proxy.
read -r UP UPS CAP SHIM_CAP ADMIN_CAP SHIM ADMIN SHIMS ADMINS NGX NGXS HAP HYP < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(13)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
# wait_port PORT PID NAME LOG: the component must listen within 10 s and stay alive.
wait_port() {
  for _ in $(seq 200); do
    kill -0 "$2" 2>/dev/null || { tail -20 "$4" >&2; die "$3 exited at start (log above)"; }
    (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  tail -20 "$4" >&2; die "$3 did not listen on 127.0.0.1:$1"
}
# stop PID: end a component started here and forget it.
stop() {
  kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true
  local keep=() p; for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done; PIDS=("${keep[@]}")
}
PROXY_CPUS=${PROXY_CPUS:-}
LOAD_CPUS=${LOAD_CPUS:-}
# Command prefixes for CPU placement (taskset execs, so $! stays the component's pid).
PIN_PROXY=(); [ -n "$PROXY_CPUS" ] && PIN_PROXY=(taskset -c "$PROXY_CPUS")
PIN_LOAD=(); [ -n "$LOAD_CPUS" ] && PIN_LOAD=(taskset -c "$LOAD_CPUS")

# --- fixtures: legacy calls, fixed v3 replies ----------------------------------------
# bodies.py writes: <name>.legacy (method, path, body) for the three calls, replies.json
# (v3 path → reply), and the upstream nginx locations.
python3 - "$WORK" <<'PY'
import json, sys, os
work = sys.argv[1]
def compact(v): return json.dumps(v, separators=(",", ":"))
def host(i): return {"bk_cloud_id": 0, "ip": f"10.0.{i // 250}.{i % 250 + 1}"}
def execute_job(hosts):
    # The seed execute_job example without `steps` (the default legacy.steps = reject
    # refuses them), its host variable grown to `hosts` hosts.
    return {"bk_app_code": "esb_test", "bk_app_secret": "xxx", "bk_token": "xxx",
            "bk_biz_id": 2, "bk_job_id": 100,
            "global_vars": [{"id": 436, "custom_query_id": ["3", "5", "7"],
                             "ip_list": [host(i) for i in range(hosts)]},
                            {"id": 437, "value": "new String value"}]}
n = 2
while len(compact(execute_job(n))) < 1500: n += 1
calls = {
    "exec_1k5": ("POST", "/api/c/compapi/v2/job/execute_job/", compact(execute_job(n))),
    "exec_200h": ("POST", "/api/c/compapi/v2/job/execute_job/", compact(execute_job(200))),
    "status": ("GET", "/api/c/compapi/v2/job/get_job_instance_status/?bk_app_code=esb_test"
               "&bk_app_secret=xxx&bk_token=xxx&bk_biz_id=2&job_instance_id=20001", ""),
}
for name, (m, p, b) in calls.items():
    json.dump({"method": m, "path": p, "body": b}, open(f"{work}/{name}.legacy", "w"))
ok = lambda data: {"result": True, "code": 0, "message": "success", "data": data,
                   "job_request_id": "a1b2c3d4e5f60001"}
host_result = lambda i: dict(host(i), bk_host_id=101 + i, status=9, tag="", exit_code=0,
                             error_code=0, start_time=1700000000523,
                             end_time=1700000003523, total_time=3000)
status = {"finished": True,
          "job_instance": {"job_instance_id": 20001, "bk_scope_type": "biz",
                           "bk_scope_id": "2", "name": "bench", "status": 3,
                           "create_time": 1700000000123, "start_time": 1700000000456,
                           "end_time": 1700000003625, "total_time": 3169, "bk_biz_id": 2},
          "step_instance_list": [{"step_instance_id": 30001, "name": "bench", "type": 1,
                                  "status": 3, "execute_count": 0,
                                  "create_time": 1700000000123,
                                  "start_time": 1700000000500, "end_time": 1700000003600,
                                  "total_time": 3100,
                                  "step_ip_result_list": [host_result(i) for i in range(2)]}]}
replies = {
    "/api/v3/execute_job_plan": ok({"job_instance_id": 20001, "job_instance_name": "bench"}),
    "/api/v3/get_job_instance_status": ok(status),
    "/api/v3/get_job_instance_list": ok({"start": 0, "length": 1, "total": 1, "data": [
        {"job_instance_id": 20001, "job_plan_id": 100, "operator": "admin",
         "launch_mode": 2}]}),
}
json.dump(replies, open(f"{work}/replies.json", "w"))
with open(f"{work}/locations.conf", "w") as f:
    for path, reply in replies.items():
        f.write(f"location = {path} {{ return 200 '{compact(reply)}'; }}\n")
print(f"bodies: execute_job {len(calls['exec_1k5'][2])} B ({n} hosts), "
      f"{len(calls['exec_200h'][2])} B (200 hosts); get_job_instance_status poll (GET)")
PY

# --- upstream: nginx with fixed replies, over HTTP and HTTPS ------------------------
# A private CA and a certificate for 127.0.0.1 signed by it (what a gateway with a
# company CA looks like to the shim: upstream.tls.ca_file).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=bench CA" -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$WORK/up.key" -out "$WORK/up.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$WORK/up.ext"
openssl x509 -req -in "$WORK/up.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
  -CAcreateserial -days 2 -extfile "$WORK/up.ext" -out "$WORK/up.pem" 2>/dev/null \
  || die "openssl could not make the test certificates"
cat >"$WORK/upstream.conf" <<NGINX
worker_processes $UPSTREAM_WORKERS;
pid $WORK/upstream.pid;
error_log $WORK/upstream.err warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $WORK/up_body;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  default_type application/json;
  server {
    listen 127.0.0.1:$UP backlog=4096;
    listen 127.0.0.1:$UPS ssl backlog=4096;
    ssl_certificate $WORK/up.pem;
    ssl_certificate_key $WORK/up.key;
    ssl_session_cache shared:up:1m;
    add_header X-Bkapi-Request-Id 0123456789abcdef0123456789abcdef always;
    include $WORK/locations.conf;
    location / { return 404 '{"result":false,"code":1640001,"message":"no such resource"}'; }
  }
}
NGINX
"${PIN_LOAD[@]}" nginx -c "$WORK/upstream.conf" -g 'daemon off;' 2>>"$WORK/upstream.err" &
PIDS+=($!); wait_port "$UP" $! "upstream nginx" "$WORK/upstream.err"

# --- the shim -----------------------------------------------------------------------
# start_shim UPSTREAM_URL PORT ADMIN_PORT: starts the shim in front of it; sets SHIM_PID.
start_shim() {
  cat >"$WORK/shim.toml" <<TOML
[server]
listen = "127.0.0.1:$2"
admin_listen = "127.0.0.1:$3"
worker_threads = $WORKERS
[upstream]
url = "$1"
[upstream.tls]
ca_file = "$WORK/ca.pem"
[rate_limit.rates]
__default = [{ period = 1, tokens = 1000000000 }]
TOML
  "${PIN_PROXY[@]}" $BIN serve --config "$WORK/shim.toml" >>"$WORK/shim.log" 2>&1 &
  SHIM_PID=$!; PIDS+=($SHIM_PID)
  wait_port "$2" $SHIM_PID "bk-job-shim" "$WORK/shim.log"
}

# Capture the exact v3 request the shim sends for each call, from a recording upstream.
python3 - "$WORK" "$CAP" >"$WORK/capture.log" 2>&1 <<'PY' &
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
work, port = sys.argv[1], int(sys.argv[2])
replies = json.load(open(f"{work}/replies.json"))
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def handle_one(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        headers = {k.lower(): v for k, v in self.headers.items()
                   if k.lower() in ("x-bkapi-authorization", "content-type", "accept")}
        with open(f"{work}/captured.jsonl", "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "headers": headers, "body": body}) + "\n")
        reply = json.dumps(replies.get(self.path.split("?")[0], {})).encode()
        self.send_response(200 if self.path.split("?")[0] in replies else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    do_GET = do_POST = handle_one
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
CAP_PID=$!; PIDS+=($CAP_PID)
wait_port "$CAP" $CAP_PID "capture server" "$WORK/capture.log"
# send.py PORT CALLFILE...: send each call once; its reply must be a successful envelope.
cat >"$WORK/send.py" <<'PY'
import json, sys, urllib.request
def send(port, callfile):
    c = json.load(open(callfile))
    headers = c.get("headers", {"content-type": "application/json"})
    req = urllib.request.Request(f"http://127.0.0.1:{port}{c['path']}", method=c["method"],
                                 data=c["body"].encode() or None, headers=headers)
    try:
        reply = json.loads(urllib.request.urlopen(req, timeout=10).read())
    except Exception as e:
        sys.exit(f"{callfile} → port {port}: {e}")
    if reply.get("code") != 0 or reply.get("result") is not True:
        sys.exit(f"{callfile} → port {port}: {reply}")
    return reply
if __name__ == "__main__":
    for f in sys.argv[2:]:
        send(sys.argv[1], f)
PY
start_shim "http://127.0.0.1:$CAP" "$SHIM_CAP" "$ADMIN_CAP"
python3 - "$WORK" "$SHIM_CAP" <<'PY' || die "the shim did not translate the calls (log above)"
import json, sys
sys.path.insert(0, sys.argv[1])
from send import send
work, port = sys.argv[1], sys.argv[2]
for call in ("exec_1k5", "exec_200h", "status"):
    open(f"{work}/captured.jsonl", "w").close()
    send(port, f"{work}/{call}.legacy")
    # The first upstream request is the one the legacy call maps to (a status poll may
    # add a one-time job lookup, which the shim then remembers).
    first = json.loads(open(f"{work}/captured.jsonl").readline())
    json.dump(first, open(f"{work}/{call}.v3", "w"))
PY
stop $SHIM_PID; stop $CAP_PID
: >"$WORK/shim.log"

start_shim "https://127.0.0.1:$UPS" "$SHIMS" "$ADMINS"; SHIMS_PID=$SHIM_PID
start_shim "http://127.0.0.1:$UP" "$SHIM" "$ADMIN"

# --- nginx proxy_pass and HAProxy ----------------------------------------------------
cat >"$WORK/nginx.conf" <<NGINX
worker_processes $WORKERS;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $WORK/ngx_body;
  proxy_temp_path $WORK/ngx_proxy;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  upstream up { server 127.0.0.1:$UP; keepalive 64; keepalive_requests 1000000; }
  upstream ups { server 127.0.0.1:$UPS; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$NGX backlog=4096;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$NGXS backlog=4096;
    location / {
      proxy_pass https://ups; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_ssl_verify on; proxy_ssl_trusted_certificate $WORK/ca.pem;
      proxy_ssl_name 127.0.0.1; proxy_ssl_session_reuse on;
    }
  }
}
NGINX
"${PIN_PROXY[@]}" nginx -c "$WORK/nginx.conf" -g 'daemon off;' 2>>"$WORK/nginx.err" &
NGX_PID=$!; PIDS+=($NGX_PID)
wait_port "$NGX" $NGX_PID "nginx proxy" "$WORK/nginx.err"

cat >"$WORK/haproxy.cfg" <<HAP
global
  nbthread $WORKERS
  maxconn 4096
defaults
  mode http
  timeout connect 3s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:$HAP
  default_backend be
backend be
  server up 127.0.0.1:$UP
HAP
"${PIN_PROXY[@]}" haproxy -db -f "$WORK/haproxy.cfg" >>"$WORK/haproxy.log" 2>&1 &
HAP_PID=$!; PIDS+=($HAP_PID)
wait_port "$HAP" $HAP_PID "haproxy" "$WORK/haproxy.log"

WORKERS=$WORKERS "${PIN_PROXY[@]}" "$FLOOR" "127.0.0.1:$HYP" "127.0.0.1:$UP" >"$WORK/hyper.log" 2>&1 &
HYP_PID=$!; PIDS+=($HYP_PID)
wait_port "$HYP" $HYP_PID "bare hyper proxy" "$WORK/hyper.log"

# --- wrk scripts: one per (call, path) -------------------------------------------------
python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
def lua(s): return "[==[" + s + "]==]"
for call in ("exec_1k5", "exec_200h", "status"):
    legacy = json.load(open(f"{work}/{call}.legacy"))
    v3 = json.load(open(f"{work}/{call}.v3"))
    for kind, c, headers in (("legacy", legacy, {"content-type": "application/json"}),
                             ("v3", v3, v3["headers"])):
        with open(f"{work}/{call}.{kind}.lua", "w") as f:
            f.write(f"wrk.method = {lua(c['method'])}\nwrk.path = {lua(c['path'])}\n")
            if c["body"]:
                f.write(f"wrk.body = {lua(c['body'])}\n")
            for k, v in headers.items():
                f.write(f"wrk.headers[ {lua(k)} ] = {lua(v)}\n")
            f.write("""done = function(s, lat, req)
  local e = s.errors
  io.write(string.format("RESULT %d %.3f %.0f %.3f %.3f %d %d\\n", s.requests,
    s.duration / 1e6, s.requests / (s.duration / 1e6), lat:percentile(50) / 1000,
    lat:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
""")
PY

declare -A PORT=([direct]=$UP [nginx]=$NGX [haproxy]=$HAP [hyper]=$HYP [shim]=$SHIM [nginx_tls]=$NGXS [shim_tls]=$SHIMS)
declare -A KIND=([direct]=v3 [nginx]=v3 [haproxy]=v3 [hyper]=v3 [shim]=legacy [nginx_tls]=v3 [shim_tls]=legacy)

# Every path must answer every call with a successful envelope before anything is timed.
for p in direct nginx haproxy hyper shim nginx_tls shim_tls; do
  python3 "$WORK/send.py" "${PORT[$p]}" "$WORK"/{exec_1k5,exec_200h,status}."${KIND[$p]}" \
    || die "$p did not answer every call correctly"
done
echo "all paths (five over http, nginx and the shim over https too) answer all three calls (code 0)"

# --- measurement ---------------------------------------------------------------------
CLK=$(getconf CLK_TCK)
# cpu_ticks PID: utime+stime of the process and its direct children (nginx workers).
cpu_ticks() {
  local t=0 p
  for p in "$1" $(ps -o pid= --ppid "$1"); do
    t=$((t + $(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $t
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
declare -A PROC=([direct]=0 [nginx]=$NGX_PID [haproxy]=$HAP_PID [hyper]=$HYP_PID [shim]=$SHIM_PID [nginx_tls]=$NGX_PID [shim_tls]=$SHIMS_PID)
RESULTS="$WORK/results.tsv"
# load ROUND CALL PATH CONNS [SECONDS]: one wrk run; appends a line to results.tsv.
load() {
  local r=$1 call=$2 p=$3 c=$4 secs=${5:-$DURATION} pid=${PROC[$3]} before=0 after=0 rss=0 sampler=""
  [ "$pid" != 0 ] && before=$(cpu_ticks "$pid")
  if [ "$p" = shim ] || [ "$p" = hyper ]; then
    echo 0 >"$WORK/rss"
    (m=0; while :; do v=$(rss_kib "$pid"); [ "$v" -gt $m ] && m=$v && echo $m >"$WORK/rss"; sleep 0.2; done) &
    sampler=$!
  fi
  out=$("${PIN_LOAD[@]}" wrk -t2 -c"$c" -d"${secs}s" -s "$WORK/$call.${KIND[$p]}.lua" \
    "http://127.0.0.1:${PORT[$p]}") || die "wrk failed against $p"
  if [ -n "$sampler" ]; then kill "$sampler"; wait "$sampler" 2>/dev/null || true; rss=$(cat "$WORK/rss"); fi
  [ "$pid" != 0 ] && after=$(cpu_ticks "$pid")
  grep -q '^RESULT' <<<"$out" || die "wrk against $p ($call) printed no result: $out"
  read -r n took rps p50 p99 bad sockerr < <(awk '/^RESULT/ {print $2,$3,$4,$5,$6,$7,$8}' <<<"$out")
  [ "$n" -gt 0 ] || die "no requests completed against $p ($call)"
  [ "$bad" = 0 ] || die "$p answered $bad non-2xx replies for $call"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$call" "$p" "$c" "$n" "$rps" "$p50" \
    "$p99" "$(( (after - before) ))" "$rss" "$sockerr" >>"$RESULTS"
  printf '  round %s %-9s %-8s %7s req/s  p50 %6s ms  p99 %6s ms\n' "$r" "$call" "$p" "$rps" "$p50" "$p99"
}

[ $SMOKE = 1 ] && echo "smoke mode: $PROFILE build, one short load per path: the figures below are not measurements"
echo "machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(uname -sr); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "placement: proxy ${PROXY_CPUS:-unpinned}, wrk + upstream ${LOAD_CPUS:-unpinned}; $WORKERS worker(s) per proxy, $UPSTREAM_WORKERS upstream worker(s)"
echo "versions: $(nginx -v 2>&1 | cut -d/ -f2), haproxy $(haproxy -v | awk 'NR==1 {print $3}'), $($BIN --version), $PROFILE build, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
CALLS=(exec_1k5 exec_200h status)
[ $SMOKE = 1 ] && CALLS=(exec_1k5)
ORDER=(direct nginx haproxy hyper shim nginx_tls shim_tls)
# Warm-up (connections, pools, caches), not recorded.
[ $SMOKE = 1 ] || for p in "${ORDER[@]}"; do
  out=$("${PIN_LOAD[@]}" wrk -t2 -c"$CONNS" -d1s -s "$WORK/exec_1k5.${KIND[$p]}.lua" \
    "http://127.0.0.1:${PORT[$p]}" 2>&1) || die "wrk failed against $p: $out"
  grep -q '^RESULT' <<<"$out" || die "wrk against $p printed no result: $out"
done
for r in $(seq "$ROUNDS"); do
  for call in "${CALLS[@]}"; do
    for p in "${ORDER[@]}"; do load "$r" "$call" "$p" "$CONNS"; done
  done
  ORDER=("${ORDER[@]:1}" "${ORDER[0]}") # rotate: each path takes each slot in turn
done
for p in shim hyper; do
  for _ in $(seq "$LOADS_256"); do load 0 exec_1k5 $p 256 $((DURATION > 2 ? DURATION : 2)) >/dev/null; done
done
kill -0 $SHIM_PID $SHIMS_PID $NGX_PID $HAP_PID $HYP_PID || die "a proxy died under load"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$RESULTS" "$CLK" "$CONNS" "$DURATION" <<'PY'
import sys, statistics as st
from collections import defaultdict
path, clk, conns, dur = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = [l.rstrip("\n").split("\t") for l in open(path)]
by = defaultdict(list)
rss, rss256 = {}, defaultdict(list)
for r, call, p, c, n, rps, p50, p99, ticks, kib, sockerr in rows:
    if r == "0":
        rss256[p].append(int(kib) / 1024)
        continue
    by[call, p].append(dict(round=int(r), n=int(n), rps=float(rps), p50=float(p50),
                            p99=float(p99), cpu=int(ticks) * 1e6 / clk / int(n),
                            rss=int(kib), err=int(sockerr)))
    if p in ("shim", "hyper"):
        rss[p, 64] = max(rss.get((p, 64), 0), int(kib))
med = lambda xs: st.median(xs)
spread = lambda xs: f"{min(xs):.2f}–{max(xs):.2f}"
calls = sorted({c for c, _ in by}, key=["exec_1k5", "exec_200h", "status"].index)
if calls:  # none with ROUNDS=0: memory only
    print(f"\n{conns} connections, {dur} s per load, median over rounds (CPU: the proxy's "
          f"processes only)")
    print(f"| call | path | req/s | p50 ms | p99 ms | CPU µs/req |\n|---|---|---|---|---|---|")
    for call in calls:
        for p in ("direct", "nginx", "haproxy", "hyper", "shim", "nginx_tls", "shim_tls"):
            xs = by[call, p]
            cpu = "–" if p == "direct" else f"{med([x['cpu'] for x in xs]):.1f}"
            err = sum(x["err"] for x in xs)
            note = f" ({err} socket errors)" if err else ""
            print(f"| {call} | {p} | {med([x['rps'] for x in xs]):,.0f}{note} | "
                  f"{med([x['p50'] for x in xs]):.2f} | {med([x['p99'] for x in xs]):.2f} | {cpu} |")
    print("\nratios of req/s, per round paired (median, min–max):")
    for call in calls:
        line = []
        for shim, base in (("shim", "nginx"), ("shim", "haproxy"), ("shim", "direct"),
                           ("shim", "hyper"), ("hyper", "nginx"), ("shim_tls", "nginx_tls"),
                           ("shim_tls", "shim")):
            rs = [s["rps"] / b["rps"] for s, b in zip(by[call, shim], by[call, base])]
            line.append(f"{shim}/{base} {med(rs):.2f} ({spread(rs)})")
        print(f"  {call}: " + ", ".join(line))
print()
for p in ("shim", "hyper"):
    at256 = rss256[p] or [0]
    at64 = f"{rss[p, 64] / 1024:.1f} MiB at {conns} connections, " if (p, 64) in rss else ""
    print(f"{p} RSS under load: {at64}{at256[0]:.1f} MiB at 256 connections")
    if len(at256) > 1:
        print(f"  peak of each of {len(at256)} consecutive loads at 256 connections: "
              + ", ".join(f"{x:.1f}" for x in at256) + " MiB")
PY
