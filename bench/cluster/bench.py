"""bench/cluster: what several nodes behind nginx give, measured in one run on loopback.

  1. Requests/s of an authenticated 10 KB file GET (wrk, keep-alive, 2 threads, 64
     connections): straight to one node (the baseline), through nginx (deploy/nginx.conf)
     to 1 node, to 3 nodes round-robin, and to 3 nodes with the upstream keep-alive taken
     out of the config (what deploy/nginx.conf did before: a new connection per request).
  2. Run throughput: runs of `print(1)` per second through nginx, 8 at a time, 1 node vs 3.
  3. Cross-node latency: a save through node A until the event reaches a subscriber on
     node B (the bus), p50 and max of 20.

All processes share this machine's cores, so 3 nodes cannot beat 1 on CPU-bound work here:
the figures show the cost of the extra hops and that nothing serialises across nodes.
Ratios are to the same-run baseline. BENCH_SECONDS sets each wrk run (default 5).
"""
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))

DUR = int(os.environ.get("BENCH_SECONDS", "5"))
FLAGS = ["--access-log", "false", "--runs-per-minute", "1000000", "--max-runs-per-user", "64",
         "--login-rate", "1000"]


def pg_url():
    if os.environ.get("PYROOM_TEST_PG"):
        return None
    url = subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "start"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.strip()
    os.environ["PYROOM_TEST_PG"] = url
    return url


def wrk(url, cookie):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(f'wrk.headers["Cookie"] = "pyroom_session={cookie}"\n')
        script = f.name
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{DUR}s", "--latency", "-s", script, url],
                         capture_output=True, text=True).stdout
    os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"\s99%\s+(\S+)", out)
    return rps, (p99.group(1) if p99 else "?"), int(non2xx.group(1)) if non2xx else 0


def setup(base):
    from clusterlib import Client
    c = Client(base)
    w = c.workspace("bench")
    r = c.put(f"/api/workspaces/{w['id']}/files/data.txt", data=b"x" * 10240)
    assert r.status_code == 201, r.text
    return c, w


def run_throughput(c, w, n=48, par=8):
    c.put(f"/api/workspaces/{w['id']}/files/main.py", data=b"print(1)\n")

    def one(_):
        r = c.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={})
        return r.status_code == 200 and r.json()["status"] == "ok"
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(par) as ex:
        ok = sum(ex.map(one, range(n)))
    return ok / (time.monotonic() - t0), ok, n


def main():
    from clusterlib import Client, Cluster, Events, Nginx, on
    started = pg_url()
    rows = []
    try:
        one = Cluster(1, extra=FLAGS, nginx="rr").start()
        try:
            c, w = setup(one.nodes[0])
            cookie = c.s.cookies["pyroom_session"]
            path = f"/api/workspaces/{w['id']}/files/data.txt"
            base, p99, bad = wrk(one.nodes[0].url + path, cookie)
            rows.append(("file GET, direct to 1 node (baseline)", base, p99, bad))
            r1, p99, bad = wrk(one.nginx.url + path, cookie)
            rows.append(("file GET, nginx -> 1 node", r1, p99, bad))
            runs1 = run_throughput(on(c, one.nginx), w)
        finally:
            one.stop()
        three = Cluster(3, extra=FLAGS, nginx="rr").start()
        try:
            c, w = setup(three.nginx)
            cookie = c.s.cookies["pyroom_session"]
            path = f"/api/workspaces/{w['id']}/files/data.txt"
            r3, p99, bad = wrk(three.nginx.url + path, cookie)
            rows.append(("file GET, nginx -> 3 nodes (rr)", r3, p99, bad))
            # The old config's behaviour: no upstream keep-alive.
            old = Nginx(three.nodes, "rr")
            import clusterlib
            real = clusterlib.nginx_config
            clusterlib.nginx_config = lambda *a: re.sub(r"\n\s*keepalive 64;", "", real(*a))
            try:
                old.start()
            finally:
                clusterlib.nginx_config = real
            try:
                rc, p99, bad = wrk(old.url + path, cookie)
                rows.append(("file GET, nginx -> 3 nodes, no upstream keep-alive", rc, p99, bad))
            finally:
                old.stop()
            runs3 = run_throughput(c, w)
            # Cross-node event latency.
            ua = on(c, three.nodes[0])
            ub = on(c, three.nodes[1])
            ev = Events(ub, w["id"])
            lat = []
            try:
                for i in range(20):
                    t0 = time.monotonic()
                    ua.put(f"/api/workspaces/{w['id']}/files/lat.txt", data=str(i).encode())
                    ev.expect("file_changed", "lat.txt")
                    lat.append((time.monotonic() - t0) * 1000)
            finally:
                ev.close()
        finally:
            three.stop()
    finally:
        if started:
            subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "stop"], cwd=ROOT)
    load = os.getloadavg()
    print(f"bench/cluster (loopback, PostgreSQL, wrk -t2 -c64 {DUR}s; one shared machine,"
          f" {os.cpu_count()} cores, load average {load[0]:.1f})")
    for label, rps, p99, bad in rows:
        print(f"  {label:<52} {rps:10.0f} req/s  p99 {p99:<8} x{rps / base:.2f}"
              + (f"  non-2xx {bad}" if bad else ""))
    print(f"  {'runs of print(1) through nginx, 1 node':<52} {runs1[0]:10.1f} runs/s"
          f"  ({runs1[1]}/{runs1[2]} ok)")
    print(f"  {'runs of print(1) through nginx, 3 nodes':<52} {runs3[0]:10.1f} runs/s"
          f"  ({runs3[1]}/{runs3[2]} ok)  x{runs3[0] / runs1[0]:.2f}")
    lat.sort()
    print(f"  {'save on A -> event on B (bus)':<52} p50 {lat[len(lat) // 2]:.1f} ms"
          f"  max {lat[-1]:.1f} ms")
    print(f"  upstream keep-alive gain: x{r3 / rows[3][1]:.2f}")


if __name__ == "__main__":
    main()
