"""bench/intel/settle.py: what the language worker's settle() (gc.freeze after warming up,
src/exec/lang_worker.py) saves, against the same worker without it, in one run.

Two copies of src/exec/lang_worker.py run on the host (no sandbox, no HTTP: the worker
alone), one with settle() and one with it removed, both preloading numpy, pandas and
matplotlib.pyplot; once both are warm, completion and diagnostics requests on bench/intel's
300-line file alternate between them. Prints each worker's CPU time per request pair (from
/proc, the figure that load on a shared machine disturbs least), p50 and mean latency, and
the ratios. N (default 40) rounds.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

N = int(os.environ.get("N", "40"))


def cpu_ms(p):
    f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def main():
    with open(os.path.join(HERE, "..", "..", "src", "exec", "lang_worker.py")) as f:
        src = f.read()
    variants = {"settle": src, "no settle": src.replace("            settle()\n", "            pass\n")}
    assert variants["settle"] != variants["no settle"], "settle() call not found"
    procs = {}
    for k, code in variants.items():
        home = tempfile.mkdtemp(prefix="bench-settle-")
        procs[k] = subprocess.Popen(["/usr/bin/python3", "-c", code,
                                     "numpy,pandas,matplotlib.pyplot"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=home,
                                    env={"HOME": home, "PATH": "/usr/bin:/bin"})
    rid = [0]

    def call(p, rq):
        rid[0] += 1
        rq.update(id=rid[0], ws=1, files={}, drop=[])
        t = time.perf_counter()
        p.stdin.write((json.dumps(rq) + "\n").encode())
        p.stdin.flush()
        r = json.loads(p.stdout.readline())
        return (time.perf_counter() - t) * 1000, r

    comp = {"op": "complete", "path": "main.py", "source": bench.SRC, "line": bench.POS[0],
            "column": bench.POS[1]}
    diag = {"op": "diagnostics", "path": "main.py", "source": bench.SRC}
    for p in procs.values():  # until warm; then idle time lets settle() run
        while call(p, dict(comp))[1].get("warming"):
            time.sleep(0.5)
    time.sleep(2)
    res = {(k, op): [] for k in procs for op in ("complete", "diagnostics")}
    c0 = {k: cpu_ms(p) for k, p in procs.items()}
    for _ in range(N):
        for k, p in procs.items():
            res[(k, "complete")].append(call(p, dict(comp))[0])
            res[(k, "diagnostics")].append(call(p, dict(diag))[0])
    cpu = {k: (cpu_ms(p) - c0[k]) / N for k, p in procs.items()}
    print(f"bench/intel/settle: {N} rounds, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    for k in procs:
        print(f"  {k:10} worker CPU per completion+diagnostics: {cpu[k]:6.1f} ms; "
              f"complete p50 {statistics.median(res[(k, 'complete')]):6.1f} ms, "
              f"diagnostics p50 {statistics.median(res[(k, 'diagnostics')]):6.1f} ms")
    print(f"  settle / no settle: CPU {cpu['settle'] / cpu['no settle']:.2f}")
    for p in procs.values():
        p.stdin.close()
        p.wait()


if __name__ == "__main__":
    main()
