"""The image recipe, deploy/Containerfile, run the way the docs say: the runtime stage's
environment, entrypoint, command and file layout, privileged (as deploy/kubernetes), with
/run/pyroom from the host, stopped by the Kubernetes preStop hook (`pyroom drain`).

No registry is reachable here, so the image's Debian 12 base is this machine's own root
file system (Debian 12) as a throw-away overlay (`podman run --rootfs /:O`), and what the
build stage makes (the binary, the page) is mounted where the runtime stage copies it.
Podman comes from Debian (scripts/install-deps.sh). Two things this host needs and a
Kubernetes node does not: runc instead of crun (crun refuses a cgroup v1 host whose v2
mount holds a controller, as here: "cgroups in hybrid mode not supported"), and explicit
rlimits (podman's defaults are above this machine's hard limits). The node shares the
host's network (no bridge here) and listens on a free loopback port.
"""
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))

from conftest import Client, free_port  # noqa: E402
from test_terminals import Term, wait_for  # noqa: E402

PODMAN = shutil.which("podman")
DEADLINE = 60


def runtime_stage(text):
    """The last stage of a Containerfile: its ENV, COPY --from, ENTRYPOINT, CMD, EXPOSE."""
    text = re.sub(r"\\\n", " ", text)
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and not ln.strip().startswith("#")]
    last = max(i for i, ln in enumerate(lines) if ln.upper().startswith("FROM "))
    st = {"env": {}, "copy": [], "entrypoint": None, "cmd": [], "expose": [], "workdir": None}
    for ln in lines[:last]:
        if ln.upper().startswith("WORKDIR "):
            st["workdir"] = ln.split(None, 1)[1]  # the build stage's
    for ln in lines[last + 1:]:
        op, _, rest = ln.partition(" ")
        op = op.upper()
        if op == "ENV":
            st["env"].update(re.findall(r"(\w+)=(\S+)", rest))
        elif op == "COPY":
            m = re.match(r"--from=\w+\s+(\S+)\s+(\S+)$", rest.strip())
            assert m, f"COPY not from the build stage: {ln}"
            st["copy"].append(m.groups())
        elif op == "ENTRYPOINT":
            st["entrypoint"] = json.loads(rest)
        elif op == "CMD":
            st["cmd"] = json.loads(rest)
        elif op == "EXPOSE":
            st["expose"].append(int(rest))
    return st


@pytest.fixture(scope="module")
def node():
    if not PODMAN:
        pytest.skip("podman is not installed (scripts/install-deps.sh installs it)")
    with open(os.path.join(ROOT, "deploy", "Containerfile")) as f:
        st = runtime_stage(f.read())
    assert st["entrypoint"] == ["/usr/local/bin/pyroom"] and st["cmd"] == ["serve"]
    assert st["expose"] == [8080] and st["env"]["PYROOM_LISTEN"] == "0.0.0.0:8080"
    # `pyroom` is the small front; it execs pyroom-server from its own directory
    assert ("/src/build/pyroom-server", "/usr/local/bin/pyroom-server") in st["copy"], st["copy"]
    name = "pyroom-test-" + secrets.token_hex(4)
    data = tempfile.mkdtemp(prefix="pyroom-container-")
    os.makedirs("/run/pyroom", exist_ok=True)
    port = free_port()
    env = dict(st["env"])
    env["PYROOM_LISTEN"] = f"127.0.0.1:{port}"  # the host's network: a free loopback port
    env["PYROOM_DATABASE"] = "sqlite:" + env["PYROOM_DATA_DIR"] + "/pyroom.db"  # one node
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    args = [PODMAN, "--runtime", "runc", "run", "-d", "--name", name, "--privileged",
            "--network", "host", "--ulimit", f"nofile={nofile[0]}:{nofile[0]}",
            "--ulimit", "nproc=4096:4096",
            # the Deployment's volumes: scratch (emptyDir) and /run/pyroom (hostPath)
            "-v", f"{data}:{env['PYROOM_DATA_DIR']}", "-v", "/run/pyroom:/run/pyroom"]
    for src, dst in st["copy"]:
        rel = os.path.relpath(src, st["workdir"])
        host = os.path.join(ROOT, rel)
        assert os.path.exists(host), f"{src}: build {rel} first (make)"
        args += ["-v", f"{host}:{dst}:ro"]
    for k, v in env.items():
        args += ["-e", f"{k}={v}"]
    args += ["--rootfs", "/:O"] + st["entrypoint"] + st["cmd"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr

    class Node:
        url = f"http://127.0.0.1:{port}"

        def logs(self):
            return subprocess.run([PODMAN, "logs", name], capture_output=True, text=True,
                                  timeout=30).stderr

    n = Node()
    n.name = name

    def up():
        try:
            return requests.get(n.url + "/api/health", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False
    try:
        wait_for(up, timeout=DEADLINE, step=0.2)
        yield n
    finally:
        subprocess.run([PODMAN, "rm", "-f", "-t", "5", name], capture_output=True, timeout=120)
        shutil.rmtree(data, ignore_errors=True)


def test_the_image_serves_the_page_runs_and_terminals_then_drains(node):
    page = requests.get(node.url + "/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    # The sandbox works inside the container, with kernel-exact limits.
    assert re.search(r'"msg":"sandbox","mode":"sandbox: cgroup v[12]', node.logs()), node.logs()
    u = Client(node)  # the first account: an admin
    # The warm pool (numpy, pandas, matplotlib imported once) is what keeps a run fast; its
    # first start reads the libraries cold through the overlay.
    wait_for(lambda: u.get("/api/admin/stats").json()["warm"].get("ready", 0) > 0,
             timeout=120, step=0.5)
    w = u.workspace("in-a-container")
    u.put(f"/api/workspaces/{w['id']}/files/main.py",
          data=b"import numpy, pandas, matplotlib\nprint(int(numpy.arange(4).sum()))\n")
    r = u.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={})
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    assert r.json()["stdout"] == "6\n"
    u.put(f"/api/workspaces/{w['id']}/files/big.py", data=b"x = bytearray(400 << 20)\n")
    r = u.post(f"/api/workspaces/{w['id']}/runs?wait=1",
               json={"entry": "big.py", "limits": {"memory_bytes": 100 << 20}})
    assert r.json()["status"] == "limit" and r.json()["limit_hit"] == "memory", r.text
    t = Term(u, w["id"])
    try:
        assert b"42" in t.run("python3 -c 'print(6*7)'")
    finally:
        t.close()
    # The one-shot command ships as its own small binary (docs/runs.md) and works there.
    one = subprocess.run([PODMAN, "exec", node.name, "/usr/local/bin/pyroom-sandbox", "run",
                          "--", "python3", "-c", "print(6*7)"],
                         capture_output=True, text=True, timeout=120)
    assert (one.returncode, one.stdout) == (0, "42\n"), (one.returncode, one.stdout, one.stderr)
    # The preStop hook: pyroom drain signals the server (pid 1 of the container) and
    # waits; the container ends with the server's clean exit.
    subprocess.run([PODMAN, "exec", node.name, "/usr/local/bin/pyroom", "drain"],
                   capture_output=True, text=True, timeout=120)
    code = subprocess.run([PODMAN, "wait", node.name], capture_output=True, text=True,
                          timeout=120)
    assert code.stdout.strip() == "0", (code.stdout, code.stderr, node.logs()[-2000:])
    assert '"msg":"draining"' in node.logs()
