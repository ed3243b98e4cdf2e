#!/usr/bin/env python3
"""Soak: mixed traffic against the release binary for a while, sampling its RSS, open
file descriptors and threads every interval. Standard library only.

    scripts/soak.py --bin target/release/bk-job-shim [--seconds 300] [--every 10]
                    [--hup-every 30]

Traffic (8 client threads): valid starts and status polls, invalid bodies, bodies over
the limit, an app over its rate limit, slow clients that trickle their headers or stop
mid-body, and a SIGHUP (config reload) every `--hup-every` seconds. The upstream is a
fault-injecting gateway in this script: besides valid JOB answers it sends 500s,
garbage, resets before replying, stalls past the shim's upstream timeout, oversized
replies and closes idle keep-alive connections.

Checked: the shim stays up and answers every request it read with a JSON envelope.
Prints one line per sample and a summary with the drift of each figure between the
first sample after warm-up and the last. Exit 1 if the shim died or answered without
an envelope.
"""
import argparse, http.client, json, os, random, signal, socket, subprocess, sys
import tempfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATS = {"sent": 0, "enveloped": 0, "bad": 0, "conn_errors": 0, "upstream": 0,
         "script_errors": 0}
LOCK = threading.Lock()


def bump(key, n=1):
    with LOCK:
        STATS[key] += n


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:  # the shim gave up on this reply (too big, or timed out)
            self.close_connection = True

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        bump("upstream")
        r = random.random()
        if r < 0.05:
            return self.reply(500, b"internal error")
        if r < 0.10:
            return self.reply(200, b"{not json")
        if r < 0.13:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if r < 0.15:
            time.sleep(3)  # past the shim's 1 s upstream timeout
        if r < 0.17:
            return self.reply(200, b'{"code":0,"data":[' + b"1," * 600_000 + b"1]}")
        if r < 0.20:
            self.close_connection = True  # closes the idle keep-alive connection
        data = {"job_instance_id": 1, "job_instance_name": "soak", "step_instance_id": 2}
        if self.command == "GET":
            data = {"finished": True, "job_instance": {"job_instance_id": 1, "status": 3,
                    "bk_scope_type": "biz", "bk_scope_id": "1", "name": "soak",
                    "create_time": 1, "start_time": 1, "end_time": 2, "total_time": 1},
                    "step_instance_list": []}
        self.reply(200, {"result": True, "code": 0, "data": data})

    do_GET = do_POST = handle_any


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


VALID = {"bk_app_code": "soak", "bk_app_secret": "s", "bk_username": "admin",
         "bk_biz_id": 1, "script_id": 1, "account": "root",
         "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}


def request(port, method, path, body, headers=None):
    bump("sent")
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        v = json.loads(data)
        bump("enveloped" if isinstance(v, dict) and "code" in v else "bad")
    except (OSError, http.client.HTTPException):
        bump("conn_errors")
    except ValueError:
        bump("bad")


def slow_client(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /api/c/compapi/v2/job/fast_execute_script/ HTTP/1.1\r\nHost: x\r\n")
        time.sleep(random.uniform(0.5, 3))
        s.sendall(b"Content-Length: 1000\r\n\r\n{\"bk_app")
        time.sleep(random.uniform(0.5, 3))
        s.close()
    except OSError:
        pass


def traffic(port, stop):
    while not stop.is_set():
        try:
            one_request(port)
        except Exception as e:  # a bug of this script must fail the soak, not stop a client
            bump("script_errors")
            print(f"soak: client error {e!r}", flush=True)
            time.sleep(1)


def one_request(port):
    """One request of the mix (or one slow client)."""
    fast = "/api/c/compapi/v2/job/fast_execute_script/"
    r = random.random()
    if r < 0.45:
        request(port, "POST", fast, json.dumps(VALID))
    elif r < 0.60:
        request(port, "GET", "/api/c/compapi/v2/job/get_job_instance_status/"
                "?bk_app_code=soak&bk_app_secret=s&bk_username=admin&bk_biz_id=1"
                "&job_instance_id=1", None)
    elif r < 0.72:
        request(port, "POST", fast, random.choice(['{"bk_biz_id":', '[1,2]', '{"a":{}}']))
    elif r < 0.80:
        big = json.dumps(dict(VALID, script_content="A" * (2 * 1024 * 1024)))
        request(port, "POST", fast, big)
    elif r < 0.92:
        request(port, "POST", fast, json.dumps(dict(VALID, bk_app_code="limited")))
    else:
        slow_client(port)


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        st = dict(l.split(":", 1) for l in f if ":" in l)
    rss = int(st["VmRSS"].split()[0]) / 1024
    threads = int(st["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds, threads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/bk-job-shim")
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--hup-every", type=int, default=30)
    a = ap.parse_args()

    up_port, port, admin = free_port(), free_port(), free_port()
    up = ThreadingHTTPServer(("127.0.0.1", up_port), Upstream)
    up.daemon_threads = True
    threading.Thread(target=up.serve_forever, daemon=True).start()
    work = tempfile.mkdtemp()
    cfg = os.path.join(work, "shim.toml")
    with open(cfg, "w") as f:
        f.write(f"""[server]
listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:{admin}"
max_body_bytes = 1048576
header_read_timeout = "2s"
[upstream]
url = "http://127.0.0.1:{up_port}"
timeout = "1s"
[log]
filter = "error"
[rate_limit.rates]
__default = [{{ period = 1, tokens = 100000 }}]
limited = [{{ period = 1, tokens = 5 }}]
""")
    shim = subprocess.Popen([a.bin, "serve", "--config", cfg],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    stop = threading.Event()
    workers = [threading.Thread(target=traffic, args=(port, stop), daemon=True)
               for _ in range(a.clients)]
    for w in workers:
        w.start()
    samples, start, alive = [], time.time(), True
    next_hup, hups = a.hup_every, 0
    try:
        while time.time() - start < a.seconds:
            time.sleep(a.every)
            t = int(time.time() - start)
            if shim.poll() is not None:
                alive = False
                print(f"soak: shim exited with {shim.returncode} at t={t}s")
                break
            if t >= next_hup:
                shim.send_signal(signal.SIGHUP)
                hups += 1
                next_hup += a.hup_every
            rss, fds, threads = sample(shim.pid)
            samples.append((t, rss, fds, threads))
            with LOCK:
                s = dict(STATS)
            print(f"soak: t={t}s rss={rss:.1f}MiB fds={fds} threads={threads} "
                  f"sent={s['sent']} enveloped={s['enveloped']} bad={s['bad']} "
                  f"conn_errors={s['conn_errors']} upstream={s['upstream']}", flush=True)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=15)
        if shim.poll() is None:
            shim.send_signal(signal.SIGTERM)
            try:
                shim.wait(timeout=90)
            except subprocess.TimeoutExpired:
                shim.kill()
        up.shutdown()
    if len(samples) >= 2:
        base = samples[min(1, len(samples) - 1)] if len(samples) > 2 else samples[0]
        last = samples[-1]
        print(f"soak: drift from t={base[0]}s to t={last[0]}s: "
              f"rss {last[1] - base[1]:+.1f}MiB, fds {last[2] - base[2]:+d}, "
              f"threads {last[3] - base[3]:+d}; max rss {max(x[1] for x in samples):.1f}MiB")
    ok = alive and STATS["bad"] == 0 and STATS["script_errors"] == 0 and STATS["enveloped"] > 0
    print(f"soak: {'ok' if ok else 'FAILED'} sighups={hups} {json.dumps(STATS)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
