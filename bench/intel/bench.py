"""bench/intel: language services latency against jedi and pyflakes run directly, in one run.

On a 300-line file that uses numpy and pandas: end-to-end latency of
POST /api/workspaces/{id}/complete (completing `np.lin` on the last line) and
POST .../diagnostics (the whole file) through a real server and its sandboxed, warm worker;
against, in the same run and interleaved round by round, (a) a cold `python3 -c 'import
jedi; ...'` per request on the host (what a naive implementation would do; its parso disk
cache is warm after the first call), and (b) jedi and pyflakes called in this process on the
host (the floor: the analysis alone, no sandbox, no HTTP, no JSON). Prints p50/p99 and ratios.
The file changes before every round like a person typing (one line edited somewhere in the
body, every third round a line added), so no figure is a repeat of an earlier request; every
contender gets the same text. PYROOM_BIN picks the server binary; BENCH_BASELINE_BIN
names another (e.g. main's build) that serves the same requests interleaved in the same run,
and the ratios new / baseline are printed. Besides wall times, the CPU time spent per round
by each server process and by its language workers (utime + stime from /proc, which the
load changes much less than wall times) is printed.
Environment: BENCH_RUNS (rounds, default 60), BENCH_COLD (cold runs, default 8),
BENCH_BASELINE_BIN.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "api"))
import conftest  # noqa: E402
from conftest import BIN, Client, Server, lang_worker_pids  # noqa: E402

N = int(os.environ.get("BENCH_RUNS", "60"))
COLD = int(os.environ.get("BENCH_COLD", "8"))
BASELINE = os.environ.get("BENCH_BASELINE_BIN")


def cpu_ms(pid):
    """utime + stime of a process, ms (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def source():
    """300 lines of ordinary numpy/pandas code, ending in `x = np.lin`."""
    out = ["import numpy as np", "import pandas as pd", ""]
    i = 0
    while len(out) < 290:
        out += [f"def step_{i}(df, k={i}):",
                f"    a = np.linspace(0, k, 50) * np.sqrt(k + 1)",
                f"    s = pd.Series(a, name='s{i}')",
                f"    df = df.assign(c{i}=s.rolling(3).mean().fillna(0))",
                f"    return df.groupby(df.index % 5).agg('sum')",
                ""]
        i += 1
    while len(out) < 295:
        out.append("# padding to 300 lines")
    out += ["frame = pd.DataFrame({'v': np.arange(50)})", "for f in [step_0, step_1]:",
            "    frame = f(frame)", "print(frame.describe())", "x = np.lin"]
    return "\n".join(out)


SRC = source()
LINES = SRC.split("\n")


class Typist:
    """The file as a person edits it: round i changes a number in one body line (a
    different one each round) and every third round also adds a line to a function."""

    def __init__(self):
        self.lines = list(LINES)

    def next(self, i):
        ls = self.lines
        ks = [k for k, text in enumerate(ls) if "np.sqrt(k + " in text]
        k = ks[(i * 7) % len(ks)]
        head, _, _ = ls[k].rpartition("np.sqrt(k + ")
        ls[k] = f"{head}np.sqrt(k + {i + 2})"
        if i % 3 == 0:
            ls.insert(k + 1, f"    b{i} = a.sum() + {i}")
        return "\n".join(ls), (len(ls), len(ls[-1]))

COLD_PROG = ("import sys, jedi\nsrc = sys.stdin.read()\nl = src.split('\\n')\n"
             "c = jedi.Script(src).complete(len(l), len(l[-1]))\n"
             "assert 'linspace' in [x.name for x in c]\n")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def timed(f):
    t = time.perf_counter()
    r = f()
    return (time.perf_counter() - t) * 1000, r


def main():
    import jedi
    import pyflakes.api
    import pyflakes.reporter

    assert len(LINES) == 300, len(LINES)
    load0 = os.getloadavg()[0]
    extra = ["--lang-per-minute", "100000", "--access-log", "false"]
    srv = Server(extra=extra).start()
    base = None
    if BASELINE:
        conftest.BIN = BASELINE
        try:
            base = Server(extra=extra).start()
        finally:
            conftest.BIN = BIN
    home = tempfile.mkdtemp(prefix="bench-intel-")
    try:
        doc = {"src": SRC, "pos": (len(LINES), len(LINES[-1]))}

        def contender(server):
            c = Client(server, username="admin")
            ws = c.workspace("bench")
            url = f"/api/workspaces/{ws['id']}"

            def complete():
                r = c.post(url + "/complete", json={"path": "main.py", "source": doc["src"],
                                                    "line": doc["pos"][0],
                                                    "column": doc["pos"][1]})
                assert r.status_code == 200, r.text
                assert "linspace" in [i["label"] for i in r.json()["items"]]

            def diagnostics():
                r = c.post(url + "/diagnostics", json={"path": "main.py", "source": doc["src"]})
                assert r.status_code == 200, r.text
                # the added lines' unused names, nothing else
                assert all(i["code"] == "UnusedVariable" for i in r.json()["items"]), r.text

            return complete, diagnostics

        complete, diagnostics = contender(srv)
        if base:
            base_complete, base_diagnostics = contender(base)

        env = jedi.InterpreterEnvironment()

        def direct_complete():
            script = jedi.Script(doc["src"], environment=env)
            assert "linspace" in [x.name for x in script.complete(*doc["pos"])]

        class Quiet(pyflakes.reporter.Reporter):
            def __init__(self):
                pass

            def flake(self, m):
                pass

            def syntaxError(self, *a):
                pass

            def unexpectedError(self, *a):
                pass

        def direct_diagnostics():
            pyflakes.api.check(doc["src"], "main.py", Quiet())

        def cold():
            subprocess.run(["/usr/bin/python3", "-c", COLD_PROG], input=doc["src"].encode(),
                           check=True, env={"HOME": home, "PATH": "/usr/bin:/bin"})

        # The worker's start (import jedi, index numpy/pandas/matplotlib, black): the first
        # request waits for what it needs; then until it says it is warm.
        first, _ = timed(complete)
        if base:
            base_first, _ = timed(base_complete)
        for _ in range(3):
            complete()
            diagnostics()
            if base:
                base_complete()
                base_diagnostics()
        direct_complete()  # the host's own first index, not counted either
        cold()
        # The workers go on warming up in idle time (matplotlib, black): wait until they
        # are quiet, so that the CPU counted below is the requests' (at most two minutes).
        pids = lang_worker_pids(srv) + (lang_worker_pids(base) if base else [])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            before = sum(cpu_ms(p) for p in pids)
            time.sleep(1)
            if sum(cpu_ms(p) for p in pids) - before < 30:
                break
        names = ["complete", "diagnostics"]
        if base:
            names += ["baseline complete", "baseline diagnostics"]
        res = {k: [] for k in names + ["direct complete", "direct diagnostics",
                                       "cold python3 -c jedi"]}
        # CPU per round: each server process, and its workers (full and light)
        procs = {"server": [srv.proc.pid], "server workers": lang_worker_pids(srv)}
        if base:
            procs.update({"baseline": [base.proc.pid], "baseline workers": lang_worker_pids(base)})
        cpu0 = {k: sum(cpu_ms(p) for p in ps) for k, ps in procs.items()}
        every = max(1, N // max(1, COLD))
        typist = Typist()
        for i in range(N):
            doc["src"], doc["pos"] = typist.next(i)
            res["complete"].append(timed(complete)[0])
            res["diagnostics"].append(timed(diagnostics)[0])
            if base:
                res["baseline complete"].append(timed(base_complete)[0])
                res["baseline diagnostics"].append(timed(base_diagnostics)[0])
            res["direct complete"].append(timed(direct_complete)[0])
            res["direct diagnostics"].append(timed(direct_diagnostics)[0])
            if i % every == 0 and len(res["cold python3 -c jedi"]) < COLD:
                res["cold python3 -c jedi"].append(timed(cold)[0])
        cpu = {k: (sum(cpu_ms(p) for p in ps) - cpu0[k]) / N for k, ps in procs.items()}
        load = os.getloadavg()[0]
        print(f"bench/intel: 300-line numpy/pandas file edited every round, {N} rounds, "
              f"load average {load0:.1f} at the start, {load:.1f} at the end, "
              f"on {os.cpu_count()} cores; server {os.path.relpath(BIN)}")
        print(f"  first request of a fresh worker (sandbox start, jedi import, indexing): "
              f"{first:.0f} ms" + (f" (baseline {base_first:.0f} ms)" if base else ""))
        print(f"  {'':28} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9}")
        for k, xs in res.items():
            print(f"  {k:28} {pct(xs, 0.5):9.1f} {pct(xs, 0.99):9.1f} "
                  f"{statistics.mean(xs):9.1f}")
        p50 = {k: pct(xs, 0.5) for k, xs in res.items()}
        print(f"  completion: server / cold python3 -c = "
              f"{p50['complete'] / p50['cold python3 -c jedi']:.3f} "
              f"({p50['cold python3 -c jedi'] / p50['complete']:.0f}x faster); "
              f"server / direct jedi = {p50['complete'] / p50['direct complete']:.2f}")
        print(f"  diagnostics: server / direct pyflakes = "
              f"{p50['diagnostics'] / p50['direct diagnostics']:.2f}")
        print("  CPU per round (one completion and one diagnostics), ms: " +
              ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
        if base:
            print(f"  new / baseline (BENCH_BASELINE_BIN={BASELINE}): completion p50 "
                  f"{p50['complete'] / p50['baseline complete']:.2f}, diagnostics p50 "
                  f"{p50['diagnostics'] / p50['baseline diagnostics']:.2f}, server CPU "
                  f"{cpu['server'] / max(cpu['baseline'], 1e-9):.2f}, worker CPU "
                  f"{cpu['server workers'] / max(cpu['baseline workers'], 1e-9):.2f}")
        print(f"  aims: completion p50 < 50 ms: {'met' if p50['complete'] < 50 else 'NOT met'}; "
              f"diagnostics p50 < 30 ms: {'met' if p50['diagnostics'] < 30 else 'NOT met'}")
    finally:
        srv.stop()
        if base:
            base.stop()
        subprocess.run(["rm", "-rf", home])


if __name__ == "__main__":
    main()
