"""Part of bench/sandbox/run.sh: a cold `print(1)` through the API (`POST .../runs?wait=1` on a
server with --warm-pool false: a sandbox built and python3 started per run) against bare host
`python3 FILE` on the same file, interleaved; with BENCH_BASELINE_BIN also a server of that
binary, and the runs' own `timings.start_ms` (the sandbox's start, as the server saw it).
The issue's aim: cold print(1) at most +10 ms over host python3. N rounds (default 30)."""
import os
import statistics
import subprocess
import sys
import tempfile
import time
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
import conftest  # noqa: E402
from conftest import Client, Server  # noqa: E402

N = int(os.environ.get("N", "30"))
FLAGS = ["--max-runs-per-user", "8", "--runs-per-minute", "100000", "--access-log", "false",
         "--warm-pool", "false"]


def start(binary):
    with mock.patch.object(conftest, "BIN", binary):  # the binary tests/api's Server starts
        return Server(extra=FLAGS).start()


def main():
    bins = {"this binary": conftest.BIN}
    if os.environ.get("BENCH_BASELINE_BIN"):
        bins["baseline binary"] = os.environ["BENCH_BASELINE_BIN"]
    servers = {k: start(b) for k, b in bins.items()}
    try:
        clients = {}
        for k, s in servers.items():
            c = Client(s, username="admin")
            w = c.workspace("bench")
            r = c.put(f"/api/workspaces/{w['id']}/files/main.py", data=b"print(1)\n")
            assert r.status_code in (200, 201), r.text
            clients[k] = (c, w)
        d = tempfile.mkdtemp()
        path = os.path.join(d, "main.py")
        with open(path, "w") as f:
            f.write("print(1)\n")
        wall = {"host python3": []}
        wall.update({k: [] for k in clients})
        start_ms = {k: [] for k in clients}
        for i in range(N):
            t0 = time.monotonic()
            subprocess.run(["/usr/bin/python3", path], capture_output=True, check=True)
            wall["host python3"].append((time.monotonic() - t0) * 1000)
            order = list(clients) if i % 2 else list(reversed(clients))
            for k in order:
                c, w = clients[k]
                t0 = time.monotonic()
                r = c.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={})
                dt = (time.monotonic() - t0) * 1000
                assert r.status_code == 200 and r.json()["status"] == "ok", r.text
                wall[k].append(dt)
                start_ms[k].append(r.json()["timings"]["start_ms"])
        host = statistics.median(wall["host python3"])
        print("cold print(1) through the API: %d rounds, load %.1f" % (N, os.getloadavg()[0]))
        for k, v in wall.items():
            m = statistics.median(v)
            extra = ("   start_ms median %.0f" % statistics.median(start_ms[k])
                     if k in start_ms else "")
            print("%-16s median %7.1f ms  over host %+7.1f%s" % (k, m, m - host, extra))
        if "baseline binary" in wall:
            print("cold print(1), this binary / baseline binary: %.2fx"
                  % (statistics.median(wall["this binary"])
                     / statistics.median(wall["baseline binary"])))
        print("aim: cold print(1) at most +10 ms over host python3")
    finally:
        for s in servers.values():
            s.stop()


if __name__ == "__main__":
    main()
