#!/usr/bin/env python3
"""Checks the Kubernetes side of deploy/: called by .ci/check-deploy (which installs the
tools and renders the chart), not meant to be run by hand.

Usage: deploy_manifests.py BIN MANIFEST.yaml...
       deploy_manifests.py notes-pod DRY_RUN.json OUT.yaml
The second form turns the output of `helm install --dry-run=client -o json` in sidecar
mode into a manifest set: its ConfigMap and Secret, and a Pod made of the snippet that
NOTES.txt tells the user to paste (so the pasted text itself is checked).

For every manifest set (one file: a plain manifest, a rendered chart, or the sidecar
snippet of the chart's NOTES wrapped in a Pod):
  1. every object validates (strict: no unknown field) against the Kubernetes JSON schemas
     of 1.30 and of kubernetes-validate's newest release; the ServiceMonitor, which has no schema
     there, against the schema of the fields used (SERVICE_MONITOR below); any other kind
     without a schema is an error;
  2. every bk-job-shim `serve` container follows the deployment rules: read-only root,
     no privilege escalation, all capabilities dropped, seccomp RuntimeDefault, non-root,
     readiness (/readyz) and liveness (/livez) probes on the admin port of its config,
     a native sidecar when it is an init container (restartPolicy: Always), and a Pod
     terminationGracePeriodSeconds above preStop sleep + server.shutdown_grace;
  3. every bk-job-shim.toml in a ConfigMap passes `bk-job-shim check-config`, with the
     environment its container would have (values, and secretKeyRef / configMapKeyRef
     resolved from the same set; a Secret the set does not hold gets a placeholder);
  4. the offline containers of the chart's `helm test` Pods (check-config, translate) run
     here with their ConfigMap volumes laid out in a temporary directory, and exit 0.
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib

import jsonschema
import yaml

errors = []
# The oldest release the kit targets (native sidecars and the preStop sleep action on by
# default), and the newest the installed kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.30.0", None]


def err(where, msg):
    errors.append(f"{where}: {msg}")


DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
LABEL_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {"type": "array"},
    },
}
# monitoring.coreos.com/v1 ServiceMonitor: the fields this kit uses, with the CRD's types.
SERVICE_MONITOR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": LABEL_SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "jobLabel": {"type": "string"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": DURATION,
                            "scrapeTimeout": DURATION,
                        },
                    },
                },
            },
        },
    },
}


def seconds(text):
    """A humantime duration of the config (`30s`, `1m 30s`, `2m`) in seconds."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    parts = re.findall(r"(\d+)\s*([a-z]+)", text)
    if not parts:
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(n) * units[u] for n, u in parts)


def schema_check(path, docs):
    """kubernetes-validate (strict) on the core kinds, our schema on ServiceMonitors."""
    core = [d for d in docs if d.get("kind") != "ServiceMonitor"]
    for d in docs:
        if d.get("kind") == "ServiceMonitor":
            for e in jsonschema.Draft7Validator(SERVICE_MONITOR).iter_errors(d):
                err(path, f"ServiceMonitor {d['metadata'].get('name')}: {e.json_path}: {e.message}")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump_all(core, f)
    exe = os.path.join(os.path.dirname(sys.executable), "kubernetes-validate")
    try:
        for version in KUBERNETES_VERSIONS:
            flags = ["--kubernetes-version", version] if version else []
            res = subprocess.run([exe, "--strict", "--quiet", *flags, f.name], capture_output=True, text=True)
            out = (res.stdout + res.stderr).replace(f.name, path).strip()
            if res.returncode != 0 or "WARN" in out or "ERROR" in out:
                err(path, f"kubernetes-validate {version or '(newest)'}:\n{out}")
    finally:
        os.unlink(f.name)


def pod_specs(docs):
    """(name, pod spec) of every workload and Pod."""
    for d in docs:
        kind, spec = d.get("kind"), d.get("spec") or {}
        if kind == "Pod":
            yield d["metadata"]["name"], spec
        elif kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
            yield d["metadata"]["name"], spec["template"]["spec"]


def is_shim(c):
    return c.get("image", "").split("/")[-1].startswith("bk-job-shim") and (c.get("args") or [""])[0] == "serve"


def config_of(c, pod, docs):
    """(ConfigMap name, TOML text) of the config a shim container serves."""
    args = c.get("args") or []
    path = args[args.index("--config") + 1] if "--config" in args else None
    for m in c.get("volumeMounts") or []:
        if path and path.startswith(m["mountPath"].rstrip("/") + "/"):
            key = path[len(m["mountPath"].rstrip("/")) + 1:]
            vol = next(v for v in pod.get("volumes") or [] if v["name"] == m["name"])
            name = (vol.get("configMap") or {}).get("name")
            cm = next((d for d in docs if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == name), None)
            if cm is not None:
                return name, cm["data"][key]
    return None, None


def container_env(c, docs):
    """The container's environment, with Secret and ConfigMap references resolved."""
    env = {}
    for e in c.get("env") or []:
        ref = e.get("valueFrom") or {}
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "secretKeyRef" in ref:
            r = ref["secretKeyRef"]
            s = next((d for d in docs if d.get("kind") == "Secret" and d["metadata"]["name"] == r["name"]), None)
            if s is None:
                env[e["name"]] = "ci-placeholder"  # an existing Secret, outside this set
            elif r["key"] in (s.get("stringData") or {}):
                env[e["name"]] = s["stringData"][r["key"]]
            else:
                env[e["name"]] = base64.b64decode(s["data"][r["key"]]).decode()
        elif "configMapKeyRef" in ref:
            r = ref["configMapKeyRef"]
            cm = next(d for d in docs if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == r["name"])
            env[e["name"]] = cm["data"][r["key"]]
    return env


def check_config(where, text, env):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(text)
    try:
        run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
        res = subprocess.run([BIN, "check-config", f.name], capture_output=True, text=True, env=run_env)
    finally:
        os.unlink(f.name)
    if res.returncode != 0:
        err(where, f"check-config exit {res.returncode}:\n{res.stderr.replace(f.name, 'bk-job-shim.toml')}")


def port_number(c, port):
    if isinstance(port, int):
        return port
    return next((p["containerPort"] for p in c.get("ports") or [] if p.get("name") == port), None)


def check_shim(where, c, pod, docs, sidecar):
    """Deployment rules for one bk-job-shim serve container."""
    sc, psc = c.get("securityContext") or {}, pod.get("securityContext") or {}
    if sc.get("readOnlyRootFilesystem") is not True:
        err(where, "readOnlyRootFilesystem must be true")
    if sc.get("allowPrivilegeEscalation") is not False:
        err(where, "allowPrivilegeEscalation must be false")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        err(where, "capabilities must drop ALL")
    if ((sc.get("seccompProfile") or psc.get("seccompProfile")) or {}).get("type") != "RuntimeDefault":
        err(where, "seccompProfile must be RuntimeDefault")
    if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
        err(where, "runAsNonRoot must be true")
    if sidecar and c.get("restartPolicy") != "Always":
        err(where, "a sidecar init container needs restartPolicy: Always (native sidecar)")
    cm_name, text = config_of(c, pod, docs)
    if text is None:
        err(where, "no ConfigMap in this set holds the --config file")
        return
    cfg = tomllib.loads(text)
    server = cfg.get("server", {})
    admin_port = int(server.get("admin_listen", "127.0.0.1:9090").rsplit(":", 1)[1])
    if server.get("admin_listen", "127.0.0.1").startswith("127."):
        err(where, "admin_listen is loopback: the kubelet's probes cannot reach it")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path or port_number(c, get.get("port")) != admin_port:
            err(where, f"{probe} must GET {path} on the admin port {admin_port}, got {get}")
    grace = seconds(server.get("shutdown_grace", "30s"))
    sleep = ((((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep")) or {}).get("seconds", 0)
    tgps = pod.get("terminationGracePeriodSeconds", 30)
    if not tgps > grace + sleep:
        err(where, f"terminationGracePeriodSeconds {tgps} must exceed preStop sleep {sleep} + shutdown_grace {grace}")
    check_config(f"{where} (ConfigMap {cm_name})", text, container_env(c, docs))
    return cm_name


def run_offline_test(where, c, pod, docs):
    """Runs one check-config / translate container of a helm test Pod, exit 0 expected."""
    with tempfile.TemporaryDirectory() as root:
        mounts = {}
        for m in c.get("volumeMounts") or []:
            vol = next(v for v in pod.get("volumes") or [] if v["name"] == m["name"])
            name = (vol.get("configMap") or {}).get("name")
            cm = next((d for d in docs if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == name), None)
            if cm is None:
                continue  # a Secret volume (TLS files): not needed offline
            local = os.path.join(root, m["name"])
            os.makedirs(local)
            for key, value in cm["data"].items():
                with open(os.path.join(local, key), "w", encoding="utf-8") as f:
                    f.write(value)
            mounts[m["mountPath"].rstrip("/") + "/"] = local + "/"
        args = []
        for a in c.get("args") or []:
            for mount, local in mounts.items():
                if a.startswith(mount):
                    a = local + a[len(mount):]
            args.append(a)
        run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **container_env(c, docs)}
        res = subprocess.run([BIN, *args], capture_output=True, text=True, env=run_env)
    if res.returncode != 0:
        err(where, f"helm test container `{' '.join(c.get('args') or [])}` exit {res.returncode}:\n{res.stdout}{res.stderr}")
    return 1


def check_set(path):
    docs = [d for d in yaml.safe_load_all(open(path, encoding="utf-8")) if d]
    schema_check(path, docs)
    checked, shims = set(), 0
    for name, pod in pod_specs(docs):
        for field, sidecar in (("initContainers", True), ("containers", False)):
            for c in pod.get(field) or []:
                if is_shim(c):
                    shims += 1
                    checked.add(check_shim(f"{path}: {name}/{c['name']}", c, pod, docs, sidecar))
    tests = 0
    for d in docs:
        if d.get("kind") == "Pod" and (d["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test":
            for c in (d["spec"].get("initContainers") or []) + d["spec"]["containers"]:
                if (c.get("args") or [""])[0] in ("check-config", "translate"):
                    tests += run_offline_test(f"{path}: {d['metadata']['name']}/{c['name']}", c, d["spec"], docs)
    for d in docs:
        if d.get("kind") == "ConfigMap" and "bk-job-shim.toml" in (d.get("data") or {}):
            if d["metadata"]["name"] not in checked:
                check_config(f"{path}: ConfigMap {d['metadata']['name']}", d["data"]["bk-job-shim.toml"], {})
                checked.add(d["metadata"]["name"])
    kinds = sorted({d["kind"] for d in docs})
    print(f"  {os.path.basename(path)}: {len(docs)} objects ({', '.join(kinds)}), "
          f"{shims} shim container(s), {len(checked - {None})} config(s) checked, "
          f"{tests} helm test container(s) run")


def notes_pod(dry_run_json, out):
    """The manifest set of a sidecar-mode release as the user completes it from NOTES."""
    release = json.load(open(dry_run_json, encoding="utf-8"))
    lines = release["info"]["notes"].splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("  terminationGracePeriodSeconds:"))
    end = next(i for i in range(start, len(lines)) if not lines[i].strip())
    spec = yaml.safe_load("\n".join(l[2:] for l in lines[start:end]))
    spec["containers"] = [{"name": "app", "image": "legacy-app:latest",
                           "env": [{"name": "BK_COMPONENT_API_URL", "value": "http://127.0.0.1:8080"}]}]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "legacy-app-from-notes"}, "spec": spec}
    docs = [d for d in yaml.safe_load_all(release["manifest"]) if d] + [pod]
    with open(out, "w", encoding="utf-8") as f:
        yaml.safe_dump_all(docs, f)


if sys.argv[1] == "notes-pod":
    notes_pod(sys.argv[2], sys.argv[3])
    sys.exit(0)
BIN = sys.argv[1]
for p in sys.argv[2:]:
    check_set(p)
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(f"deploy manifests: {len(errors)} problem(s)")
