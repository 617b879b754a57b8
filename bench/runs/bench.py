"""bench/runs: end-to-end run latency through pyroom against bare host python3, same run.

Prints medians (and p90) of: POST /api/workspaces/{id}/runs?wait=1 for print(1), a small
pandas script and a matplotlib plot; the same files run by bare host `python3 FILE`; their
ratios; the throughput mode; and how long POST .../cancel takes to answer for a running
program (its tree killed and reaped), against a GET of the same run as the baseline (was a
"< 5 s" bound inside tests/api).

Throughput mode: BENCH_CLIENTS (default 8) concurrent clients spread over BENCH_USERS
(default 4) users, each posting print(1) runs (?wait=1) back to back for BENCH_SECONDS
(default 10) s, on a server with the warm pool (BENCH_WARM_CHILDREN waiting interpreters,
default 4) and on one without (--warm-pool false);
prints runs/s, p50 and p99 latency, how many runs were warm, and the CPU per run of the
server's whole process tree (HTTP side, supervisor, sandboxes and the pool). The same-run baseline is
bare host `python3 -c pass` run by the same number of concurrent workers (runs/s).
BENCH_BASELINE_BIN=path adds the same with another pyroom binary (e.g. the one before a
change), interleaved, for before/after ratios. BENCH_ONLY=throughput skips the rest.
"""
import concurrent.futures
import os
import threading
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "api"))
import conftest  # noqa: E402
from conftest import Client, Server  # noqa: E402

N = int(os.environ.get("BENCH_RUNS", "30"))
PROGRAMS = {
    "print(1)": "print(1)\n",
    "pandas groupby": ("import pandas as pd\nimport numpy as np\n"
                       "df = pd.DataFrame({'k': np.arange(1000) % 10, 'v': np.arange(1000)})\n"
                       "print(df.groupby('k')['v'].sum().head(3))\n"),
    "matplotlib plot": ("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
                        "plt.plot([1, 2, 3], [4, 1, 9])\nplt.savefig('/tmp/p.png')\n"),
}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def host(code):
    d = tempfile.mkdtemp()
    path = os.path.join(d, "main.py")
    open(path, "w").write(code)
    times = []
    for _ in range(N):
        t = time.perf_counter()
        subprocess.run(["/usr/bin/python3", path], cwd=d, capture_output=True, check=True)
        times.append((time.perf_counter() - t) * 1000)
    return times


def through_pyroom(c, w, code):
    c.put(f"/api/workspaces/{w['id']}/files/main.py", data=code.encode())
    times = []
    for _ in range(N):
        t = time.perf_counter()
        r = c.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={})
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    return times


def cancel_latency(c, w, n=10):
    c.put(f"/api/workspaces/{w['id']}/files/main.py",
          data=b"import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    get, cancel = [], []
    for _ in range(n):
        r = c.post(f"/api/workspaces/{w['id']}/runs", json={}).json()
        with c.s.get(c.server.url + f"/api/runs/{r['id']}/events", stream=True, timeout=60) as ev:
            for line in ev.iter_lines():
                if line.startswith(b"data:") and b"started" in line:
                    break
        t = time.perf_counter()
        c.get(f"/api/runs/{r['id']}")
        get.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        x = c.post(f"/api/runs/{r['id']}/cancel")
        cancel.append((time.perf_counter() - t) * 1000)
        assert x.status_code == 200 and x.json()["status"] == "cancelled", x.text
    return get, cancel


CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
USERS = int(os.environ.get("BENCH_USERS", "4"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
WARM_CHILDREN = int(os.environ.get("BENCH_WARM_CHILDREN", "4"))
FLAGS = ["--max-runs-per-user", str(CLIENTS), "--runs-per-minute", "1000000",
         "--access-log", "false"]


def start(extra, binary=None):
    """A server of `binary` (default: the one under test)."""
    saved = conftest.BIN
    conftest.BIN = binary or saved
    try:
        return Server(extra=FLAGS + extra).start()
    finally:
        conftest.BIN = saved


def wait_warm(admin):
    for _ in range(2400):
        if admin.get("/api/admin/stats").json()["warm"].get("ready", 0) >= 1:
            return
        time.sleep(0.05)


TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid):
    """CPU seconds of pid's process tree: every live process's own time and what it reaped
    (a sandbox's, a zygote's and a template's time is counted once it ends, in its reaper's
    cutime/cstime; the ones still alive by their own utime/stime)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total / TICK


def closed_loop(n, seconds, one):
    """n workers calling one(i) back to back for `seconds`; (runs/s, latencies ms, results)."""
    lat, res, lock = [], [], threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(i):
        while time.perf_counter() < stop:
            t = time.perf_counter()
            r = one(i)
            d = (time.perf_counter() - t) * 1000
            with lock:
                lat.append(d)
                res.append(r)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(lat) / (time.perf_counter() - t0), lat, res


def throughput():
    # enough waiting interpreters that most of the clients' runs find one (2 by default)
    warm = ["--warm-children", str(WARM_CHILDREN)]
    servers = [("warm", start(warm)), ("cold", start(["--warm-pool", "false"]))]
    base = os.environ.get("BENCH_BASELINE_BIN")
    if base:
        servers += [("warm (baseline bin)", start(warm, base)),
                    ("cold (baseline bin)", start(["--warm-pool", "false"], base))]
    try:
        print(f"throughput: {CLIENTS} clients over {USERS} users, print(1), {SECONDS:.0f} s "
              f"each, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        work = {}
        for name, srv in servers:
            # one session per client; client i is user i % USERS (the first is the admin)
            clients, spaces = [], {}
            for i in range(CLIENTS):
                u = i % USERS
                c = Client(srv, username="admin" if u == 0 else f"user{u}", register=i < USERS)
                if i >= USERS:
                    assert c.login().status_code == 200
                if i < USERS:
                    w = c.workspace("tp")
                    c.put(f"/api/workspaces/{w['id']}/files/main.py", data=b"print(1)\n")
                    spaces[u] = w
                clients.append((c, spaces[u]))
            work[name] = clients
            if name.startswith("warm"):  # (a cold server never has one: 2 minutes lost)
                wait_warm(clients[0][0])
        rows, cpu = {}, {}
        for rnd in range(2):  # two rounds, interleaved, so load drifts hit every variant
            hr, _, _ = closed_loop(CLIENTS, SECONDS / 2, lambda i: subprocess.run(
                ["/usr/bin/python3", "-c", "pass"], check=True))
            rows.setdefault("host python3 -c pass", []).append((hr, [], []))
            for name, _ in servers:
                users = work[name]

                def one(i, users=users):
                    c, w = users[i]
                    r = c.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={})
                    return r.json().get("warm") if r.status_code == 200 else None
                srv_pid = dict(servers)[name].proc.pid
                c0 = tree_cpu_s(srv_pid)
                rate, lat, res = closed_loop(CLIENTS, SECONDS / 2, one)
                cpu.setdefault(name, []).append((tree_cpu_s(srv_pid) - c0, len(lat)))
                rows.setdefault(name, []).append((rate, lat, res))
        host_rate = statistics.mean(r[0] for r in rows["host python3 -c pass"])
        print(f"{'variant':22s} {'runs/s':>7s} {'p50 ms':>8s} {'p99 ms':>8s} {'ok':>6s} "
              f"{'warm':>6s}  vs host python3 runs/s   CPU ms/run (server, supervisor, sandboxes, pool)")
        print(f"{'host python3 -c pass':22s} {host_rate:7.1f}")
        for name, _ in servers:
            rate = statistics.mean(r[0] for r in rows[name])
            lat = [x for r in rows[name] for x in r[1]]
            res = [x for r in rows[name] for x in r[2]]
            ok = sum(x is not None for x in res)
            cpu_ms = 1000 * sum(c for c, _ in cpu[name]) / max(1, sum(k for _, k in cpu[name]))
            print(f"{name:22s} {rate:7.1f} {pct(lat, .5):8.1f} {pct(lat, .99):8.1f} "
                  f"{ok:6d} {sum(bool(x) for x in res):6d}  {rate / host_rate:5.2f}x"
                  f"                   {cpu_ms:6.1f}")
        if base:
            for kind in ("warm", "cold"):
                a = statistics.mean(r[0] for r in rows[kind])
                b = statistics.mean(r[0] for r in rows[f"{kind} (baseline bin)"])
                print(f"{kind}: runs/s this binary / baseline binary: {a / b:5.2f}x")
                ca = sum(c for c, _ in cpu[kind]) / max(1, sum(k for _, k in cpu[kind]))
                cb = sum(c for c, _ in cpu[f"{kind} (baseline bin)"]) / max(
                    1, sum(k for _, k in cpu[f"{kind} (baseline bin)"]))
                print(f"{kind}: CPU per run this binary / baseline binary: {ca / cb:5.2f}x")
    finally:
        for _, srv in servers:
            srv.stop()


def main():
    if os.environ.get("BENCH_ONLY") == "throughput":
        return throughput()
    srv = Server(extra=["--max-runs-per-user", "8", "--runs-per-minute", "100000",
                        "--access-log", "false"]).start()
    try:
        c = Client(srv)
        w = c.workspace()
        bare = host("pass\n")
        print(f"bench/runs: {N} runs each, {os.cpu_count()} cores")
        print(f"{'bare host python3 -c pass':28s} median {statistics.median(bare):7.1f} ms")
        for name, code in PROGRAMS.items():
            h = host(code)
            p = through_pyroom(c, w, code)
            mh, mp = statistics.median(h), statistics.median(p)
            print(f"{name:16s} pyroom median {mp:7.1f} ms (p90 {pct(p, .9):7.1f})   "
                  f"host python3 median {mh:7.1f} ms   ratio {mp / mh:5.2f}x   "
                  f"overhead {mp - mh:+7.1f} ms")
        c.put(f"/api/workspaces/{w['id']}/files/main.py", data=b"print(1)\n")
        total = N * 4
        t = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            codes = list(ex.map(lambda _: c.post(f"/api/workspaces/{w['id']}/runs?wait=1",
                                                  json={}).status_code, range(total)))
        dt = time.perf_counter() - t
        ok = codes.count(200)
        print(f"print(1) with 8 concurrent clients: {ok / dt:6.1f} runs/s ({ok}/{total} ok)")
        get, cancel = cancel_latency(c, w)
        print(f"cancel of a running program: median {statistics.median(cancel):7.1f} ms "
              f"(max {max(cancel):7.1f})   GET of the run median {statistics.median(get):6.1f} ms"
              f"   ratio {statistics.median(cancel) / statistics.median(get):5.1f}x")
    finally:
        srv.stop()
    throughput()


if __name__ == "__main__":
    main()
