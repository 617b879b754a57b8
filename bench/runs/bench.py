"""bench/runs: end-to-end run latency through pyroom against bare host python3, same run.

Prints medians (and p90) of: POST /api/workspaces/{id}/runs?wait=1 for print(1), a small
pandas script and a matplotlib plot; the same files run by bare host `python3 FILE`; their
ratios; runs/s for print(1) with 8 concurrent clients; and how long POST .../cancel takes
to answer for a running program (its tree killed and reaped), against a GET of the same run
as the baseline (was a "< 5 s" bound inside tests/api).
"""
import concurrent.futures
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "api"))
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


def main():
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


if __name__ == "__main__":
    main()
