"""bench/warm: warm runs against cold runs against bare host python3, in one run.

For print(1), the issue's pandas script (a 1,000-row DataFrame, groupby, print) and a
matplotlib plot: end-to-end latency of POST /api/workspaces/{id}/runs?wait=1 on a server
with the warm pool and on one without (--warm-pool false), and bare host `python3 FILE` on
the same file; plus bare `python3 -c pass`. The four are interleaved round by round, so a
machine loaded by others weighs on each alike. Prints medians, p90, ratios, and the memory
of the pool (PSS per template and per ready interpreter, the pool's cgroup).
Each warm run's record also gives its phases (timings.start_ms, program_ms...): the
medians of the warm print(1) runs are printed, to show where the time goes.
Environment: BENCH_RUNS (rounds, default 30); BENCH_BASELINE_BIN=path adds a fifth
variant, warm runs on a server of another pyroom binary (e.g. the one before a change),
interleaved with the others, and prints before/after ratios.
"""
import os
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
    "pandas script": ("import pandas as pd\nimport numpy as np\n"
                      "df = pd.DataFrame({'k': np.arange(1000) % 10, 'v': np.arange(1000)})\n"
                      "print(df.groupby('k')['v'].sum())\n"),
    "matplotlib plot": ("import matplotlib\nmatplotlib.use('Agg')\n"
                        "import matplotlib.pyplot as plt\n"
                        "plt.plot([1, 2, 3], [4, 1, 9])\nplt.savefig('plot.png')\n"),
}
SERVER_FLAGS = ["--max-runs-per-user", "8", "--runs-per-minute", "100000",
                "--access-log", "false"]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def timed(f):
    t = time.perf_counter()
    f()
    return (time.perf_counter() - t) * 1000


def wait_ready(admin):
    for _ in range(2400):
        w = admin.get("/api/admin/stats").json()["warm"]
        if w.get("ready", 0) >= 1:
            return w
        time.sleep(0.05)
    raise SystemExit("bench/warm: the pool never became ready: %r" % w)


def start_base(binary):
    saved = conftest.BIN
    conftest.BIN = binary
    try:
        return Server(extra=SERVER_FLAGS).start()
    finally:
        conftest.BIN = saved


def main():
    warm_srv = Server(extra=SERVER_FLAGS).start()
    cold_srv = Server(extra=SERVER_FLAGS + ["--warm-pool", "false"]).start()
    base = os.environ.get("BENCH_BASELINE_BIN")
    base_srv = start_base(base) if base else None
    try:
        wa, ca = Client(warm_srv, username="admin"), Client(cold_srv, username="admin")
        ww, cw = wa.workspace("bench"), ca.workspace("bench")
        ba = Client(base_srv, username="admin") if base_srv else None
        bw = ba.workspace("bench") if ba else None
        d = tempfile.mkdtemp()
        wait_ready(wa)
        if ba:
            wait_ready(ba)
        print(f"bench/warm: {N} rounds, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        bare = []
        rows = []
        for name, code in PROGRAMS.items():
            path = os.path.join(d, "main.py")
            open(path, "w").write(code)
            for c, w in ((wa, ww), (ca, cw)) + (((ba, bw),) if ba else ()):
                r = c.put(f"/api/workspaces/{w['id']}/files/main.py", data=code.encode())
                assert r.status_code in (200, 201), r.text
            host, cold, warm, warm_wall, was_warm, based, phases = [], [], [], [], 0, [], []
            for _ in range(N):
                bare.append(timed(lambda: subprocess.run(
                    ["/usr/bin/python3", "-c", "pass"], check=True)))
                host.append(timed(lambda: subprocess.run(
                    ["/usr/bin/python3", path], cwd=d, capture_output=True, check=True)))
                res = {}

                def post(c, w, key):
                    r = c.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={})
                    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
                    res[key] = r.json()
                cold.append(timed(lambda: post(ca, cw, "cold")))
                wait_ready(wa)  # not timed: the latency of a run that finds the pool ready
                warm.append(timed(lambda: post(wa, ww, "warm")))
                was_warm += res["warm"]["warm"]
                warm_wall.append(res["warm"]["wall_ms"])
                phases.append(res["warm"].get("timings") or {})
                if ba:
                    wait_ready(ba)
                    based.append(timed(lambda: post(ba, bw, "base")))
            rows.append((name, host, cold, warm, warm_wall, was_warm))
            if based:
                mw, mb = statistics.median(warm), statistics.median(based)
                print(f"{name}: warm, baseline binary {mb:.1f} ms -> this binary {mw:.1f} ms "
                      f"({mb / mw:.2f}x faster)")
            keys = ("queue_ms", "prepare_ms", "start_ms", "program_ms", "exit_ms", "collect_ms")
            if phases and all(phases):
                print(f"{name}: warm phases (medians, ms): " + ", ".join(
                    f"{k[:-3]} {statistics.median(p[k] for p in phases):.0f}" for k in keys))
        mb = statistics.median(bare)
        print(f"{'bare host python3 -c pass':30s} median {mb:7.1f} ms")
        print(f"{'program':16s} {'warm':>16s} {'cold':>16s} {'host python3':>16s}"
              f" {'host/warm':>10s} {'cold/warm':>10s}  warm runs  sandbox wall (warm)")
        for name, host, cold, warm, wall, n in rows:
            mh, mc, mw = (statistics.median(x) for x in (host, cold, warm))
            print(f"{name:16s} {mw:7.1f} (p90 {pct(warm, .9):5.0f}) {mc:7.1f} (p90 "
                  f"{pct(cold, .9):5.0f}) {mh:7.1f} (p90 {pct(host, .9):5.0f}) {mh / mw:9.1f}x"
                  f" {mc / mw:9.1f}x  {n:4d}/{N:<4d}  {statistics.median(wall):5.0f} ms")
        pw = statistics.median(rows[0][3])
        print(f"print(1) warm end-to-end vs bare `python3 -c pass`: {pw:.1f} ms vs {mb:.1f} ms "
              f"({mb / pw:.2f}x)")
        st = wait_ready(wa)
        ready = max(st["ready"], 1)
        per_child = max(st["pss_bytes"] - st["template_pss_bytes"] * st["templates"], 0) / ready
        print(f"pool memory: template PSS {st['template_pss_bytes'] / 2**20:.1f} MiB, "
              f"per ready interpreter PSS {per_child / 2**20:.1f} MiB ({st['ready']} ready), "
              f"total PSS {st['pss_bytes'] / 2**20:.1f} MiB, pool cgroup "
              f"{st['cgroup_bytes'] / 2**20:.1f} MiB of {st['memory_limit_bytes'] / 2**20:.0f} MiB; "
              f"template boot {st['boot_ms']} ms; claims {st['claims']}, "
              f"fallbacks {st['fallbacks']}")
    finally:
        warm_srv.stop()
        cold_srv.stop()
        if base_srv:
            base_srv.stop()


if __name__ == "__main__":
    main()
