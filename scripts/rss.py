#!/usr/bin/env python3
"""Peak RSS of the release binary under concurrent near-limit bodies, and how far it
comes back afterwards. Standard library only.

    scripts/rss.py [--bin target/release/bk-job-shim] [--concurrency 20] [--idle 60]
                   [--worker-threads N]

Starts the shim with the default limits (only ports, upstream and log level set) in front
of a trivial upstream, measures idle RSS, sends `concurrency` bodies just under
`server.max_body_bytes` at once for each shape (host list, deep arrays, one long string,
a flat list of numbers; with and without an allowed app), sampling RSS every 20 ms, then
idles, sampling every 5 s. Prints figures (peak, the idle trail, when RSS came back
within 10 MiB of the level before); asserts nothing.
"""
import argparse, json, os, socket, subprocess, tempfile, threading, time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LIMIT = 10 * 1024 * 1024


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        data = json.dumps({"result": True, "code": 0, "data": {"job_instance_id": 1,
                           "job_instance_name": "x", "step_instance_id": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fill(prefix, item, suffix, size):
    n = (size - len(prefix) - len(suffix)) // (len(item) + 1)
    return prefix + ",".join([item] * n) + suffix


def shapes(app):
    head = '{"bk_app_code":"%s","bk_app_secret":"s","bk_username":"u","bk_biz_id":1,' \
           '"script_id":1,"account":"root",' % app
    size = LIMIT - 4096
    return {
        "hosts": fill(head + '"ip_list":[', '{"bk_cloud_id":0,"ip":"10.0.0.1"}', "]}", size),
        "numbers": fill(head + '"ip_list":[', "1", "]}", size),
        "deep": head + '"x":' + "[" * 100_000 + "]" * 100_000 + "}",
        "string": head + '"script_content":"' + "A" * (size - len(head) - 40) + '"}',
        "arrays": fill(head + '"x":[', "[[]]", "]}", size),
    }


def post(port, body, out):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        data = body.encode()
        s.sendall(b"POST /api/c/compapi/v2/job/fast_execute_script/ HTTP/1.1\r\n"
                  b"Host: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(data) + data)
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        s.close()
        body = reply.split(b"\r\n\r\n", 1)[-1]
        out.append(json.loads(body).get("code"))
    except (OSError, ValueError) as e:
        out.append(f"error: {type(e).__name__}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/bk-job-shim")
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--idle", type=int, default=60)
    ap.add_argument("--worker-threads", type=int, default=0,
                    help="server.worker_threads (0, the default: one per CPU)")
    a = ap.parse_args()
    up_port, port, admin = free_port(), free_port(), free_port()
    up = ThreadingHTTPServer(("127.0.0.1", up_port), Upstream)
    up.daemon_threads = True
    threading.Thread(target=up.serve_forever, daemon=True).start()
    cfg = os.path.join(tempfile.mkdtemp(), "shim.toml")
    with open(cfg, "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:{port}"\nadmin_listen = "127.0.0.1:{admin}"\n'
                f'worker_threads = {a.worker_threads}\n'
                f'[upstream]\nurl = "http://127.0.0.1:{up_port}"\n[log]\nfilter = "error"\n'
                '[auth]\nallowed_apps = ["allowed"]\n')
    shim = subprocess.Popen([a.bin, "serve", "--config", cfg],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(1)
        before = rss_mib(shim.pid)
        print(f"rss: idle before {before:.1f} MiB")
        peak_all = before
        for app in ("allowed", "not-allowed"):
            for name, body in shapes(app).items():
                codes, peak = [], [0.0]
                threads = [threading.Thread(target=post, args=(port, body, codes))
                           for _ in range(a.concurrency)]
                done = threading.Event()

                def sampler():
                    while not done.is_set():
                        peak[0] = max(peak[0], rss_mib(shim.pid))
                        time.sleep(0.02)
                st = threading.Thread(target=sampler)
                st.start()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                done.set()
                st.join()
                peak_all = max(peak_all, peak[0])
                print(f"rss: {app:11} {name:8} {len(body) / 2**20:5.1f} MiB x{a.concurrency}: "
                      f"peak {peak[0]:.1f} MiB, answers {dict(Counter(map(str, codes)))}",
                      flush=True)
        t0, back = time.time(), None
        trail = []
        while time.time() - t0 < a.idle:
            time.sleep(5)
            now = rss_mib(shim.pid)
            trail.append(f"{now:.0f}")
            if back is None and now - before <= 10:
                back = time.time() - t0
        after = rss_mib(shim.pid)
        print(f"rss: idle trail every 5 s (MiB): {' '.join(trail)}")
        print(f"rss: peak {peak_all:.1f} MiB; after {a.idle} s idle {after:.1f} MiB "
              f"({after - before:+.1f} MiB vs before); within 10 MiB of before "
              + (f"after {back:.0f} s" if back is not None else f"not within {a.idle} s"))
    finally:
        shim.terminate()
        shim.wait(timeout=90)
        up.shutdown()


if __name__ == "__main__":
    main()
