"""bench/runs: end-to-end run latency through pyroom against bare host python3, same run.

Prints medians (and p90) of: POST /api/workspaces/{id}/runs?wait=1 for print(1), a small
pandas script and a matplotlib plot; the same files run by bare host `python3 FILE`; their
ratios; and runs/s for print(1) with 8 concurrent clients.
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
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
