#!/usr/bin/env bash
# Load benchmark (DESIGN §7): the shim (translation + auth + rate limit) against nginx doing
# a plain proxy_pass, both in front of the same upstream (the built-in stub gateway), on the
# same machine and payload, measured in the same run. Prints figures and ratios.
#
#   benches/load.sh [duration-seconds] [connections]
#
# Needs wrk and nginx (apt-get install -y wrk nginx-light). Nothing here is asserted: the
# machines are shared and noisy; read the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=${2:-64}
for t in wrk nginx; do command -v $t >/dev/null || { echo "needs $t (apt-get install -y wrk nginx-light)"; exit 1; }; done

cargo build --release -q --bin bk-job-shim
BIN=target/release/bk-job-shim
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not up"; exit 1; }

UP=$(port); SHIM=$(port); ADMIN=$(port); NGX=$(port)
RUST_LOG=warn $BIN stub-gateway --listen 127.0.0.1:$UP >/dev/null 2>&1 & PIDS+=($!)
wait_port $UP
cat > "$WORK/shim.toml" <<TOML
[server]
listen = "127.0.0.1:$SHIM"
admin_listen = "127.0.0.1:$ADMIN"
# One worker, like nginx's worker_processes 1 below.
worker_threads = 1
[upstream]
url = "http://127.0.0.1:$UP"
[log]
filter = "warn"
[rate_limit.rates]
__default = [{ period = 1, tokens = 100000000 }]
TOML
$BIN serve --config "$WORK/shim.toml" >/dev/null 2>&1 & PIDS+=($!)
SHIM_PID=$!
wait_port $SHIM
cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK;
  proxy_temp_path $WORK;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$NGX;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
nginx -c "$WORK/nginx.conf" -g 'daemon off;' & PIDS+=($!)
wait_port $NGX

# Same work upstream: the shim receives the legacy body, nginx the already-translated one.
LEGACY='{"bk_app_code":"bench","bk_app_secret":"s","bk_token":"t","bk_biz_id":1,"script_id":1,"account":"root","ip_list":[{"bk_cloud_id":0,"ip":"10.0.0.1"},{"bk_cloud_id":0,"ip":"10.0.0.2"}]}'
V3='{"bk_scope_type":"biz","bk_scope_id":"1","script_version_id":1,"account_alias":"root","target_server":{"ip_list":[{"bk_cloud_id":0,"ip":"10.0.0.1"},{"bk_cloud_id":0,"ip":"10.0.0.2"}]}}'
lua() { # body, extra header line
  cat > "$WORK/$3.lua" <<LUA
wrk.method = "POST"
wrk.body = '$1'
wrk.headers["Content-Type"] = "application/json"
$2
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.3f %.3f\n", summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
}
lua "$LEGACY" "" shim
lua "$V3" 'wrk.headers["X-Bkapi-Authorization"] = "{\"bk_app_code\":\"bench\",\"bk_app_secret\":\"s\",\"bk_token\":\"t\"}"' nginx

run() { wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$WORK/$2.lua" "$1" | awk '/^RESULT/ {print $2, $3, $4}'; }
# Warm up, then measure.
run "http://127.0.0.1:$SHIM/api/c/compapi/v2/job/fast_execute_script/" shim >/dev/null
read -r D_RPS D_P50 D_P99 < <(run "http://127.0.0.1:$UP/api/v3/fast_execute_script" nginx)
read -r N_RPS N_P50 N_P99 < <(run "http://127.0.0.1:$NGX/api/v3/fast_execute_script" nginx)
read -r S_RPS S_P50 S_P99 < <(run "http://127.0.0.1:$SHIM/api/c/compapi/v2/job/fast_execute_script/" shim)
printf '%-28s %10s %10s %10s\n' "path ($CONNS conns, ${DUR}s)" "req/s" "p50 ms" "p99 ms"
printf '%-28s %10s %10s %10s\n' "upstream direct" "$D_RPS" "$D_P50" "$D_P99"
printf '%-28s %10s %10s %10s\n' "nginx proxy_pass" "$N_RPS" "$N_P50" "$N_P99"
printf '%-28s %10s %10s %10s\n' "bk-job-shim (translate)" "$S_RPS" "$S_P50" "$S_P99"
python3 - "$S_RPS" "$N_RPS" "$S_P99" "$N_P99" "$D_P99" <<'PY'
import sys
s, n, sp, np_, dp = map(float, sys.argv[1:])
print(f"throughput shim/nginx = {s/n:.2f}x;  p99 added over upstream: shim {sp-dp:.3f} ms, nginx {np_-dp:.3f} ms")
PY
# Resident memory with 256 open connections.
wrk -t2 -c256 -d3s -s "$WORK/shim.lua" "http://127.0.0.1:$SHIM/api/c/compapi/v2/job/fast_execute_script/" >/dev/null &
sleep 2
echo "shim RSS at 256 connections: $(( $(ps -o rss= -p "$SHIM_PID") / 1024 )) MiB"
wait
