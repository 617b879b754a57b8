"""Timing harness of bench/sandbox/run.sh (see there). Every variant is started and timed by
the same code path (`pyroom sandbox run [--host] --repeat K`, the time from fork or spawn
request to exit status, "client_us"), so the harness's own cost is the same for all."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("PYROOM_BIN", os.path.join(ROOT, "build", "pyroom"))
N = int(os.environ.get("N", "60"))
ROUNDS = int(os.environ.get("ROUNDS", "6"))
CMD = ["/usr/bin/python3", "-c", "pass"]
# A second binary (e.g. main's build) to compare the one-shot command against, interleaved.
BASELINE = os.environ.get("BENCH_BASELINE_BIN")

# bubblewrap with the same policy as ours, as far as its options go: all namespaces, uid
# 1000, read-only /usr and the /bin /lib* /sbin links, the same /etc entries, fresh /proc,
# minimal /dev, tmpfs /tmp and home, no capabilities, new session, dies with its parent.
# (No seccomp filter: bwrap takes only a pre-compiled one; ours is loaded per spawn.)
def bwrap_cmd():
    a = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--uid", "1000",
         "--gid", "1000", "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr"]
    for link in ["bin", "lib", "lib64", "sbin", "lib32"]:
        if os.path.islink("/" + link):
            a += ["--symlink", os.readlink("/" + link), "/" + link]
    for e in ["ld.so.cache", "alternatives", "matplotlibrc", "localtime", "passwd", "group"]:
        if os.path.exists("/etc/" + e):
            a += ["--ro-bind", "/etc/" + e, "/etc/" + e]
    a += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/home/user",
          "--chdir", "/home/user", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin",
          "--setenv", "HOME", "/home/user", "--"]
    return a + CMD


VARIANTS = [
    ("host python3", [BIN, "sandbox", "run", "--host"], CMD),
    ("pyroom (cgroups)", [BIN, "sandbox", "run"], CMD),
    ("pyroom (rlimits)", [BIN, "sandbox", "run", "--no-cgroups"], CMD),
    ("bwrap", [BIN, "sandbox", "run", "--host"], None),
]
if BASELINE:
    VARIANTS.append(("baseline (cgroups)", [BASELINE, "sandbox", "run"], CMD))


def run(prefix, cmd, k):
    p = subprocess.run(prefix + ["--repeat", str(k), "--"] + cmd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, check=False)
    out = []
    for line in p.stderr.decode().splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            if r.get("exit_code") != 0:
                sys.exit("bench: %s failed: %s" % (cmd, line))
            out.append(r["client_us"] / 1000.0)
    if len(out) != k:
        sys.exit("bench: %s gave %d results: %s" % (cmd, len(out), p.stderr[-500:]))
    return out


def one_shot(cmd):
    """Wall time of one whole command, from fork to exit, as a shell script would see it."""
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    dt = (time.monotonic() - t0) * 1000.0
    if p.returncode != 0:
        sys.exit("bench: %s failed (%d)" % (cmd, p.returncode))
    return dt


def one_shot_bench(have_bwrap):
    """`pyroom sandbox run -- python3 -c pass` as a command of its own (binary start, host
    probe, supervisor, sandbox, exit) against bwrap and bare python3, each started the same
    way, interleaved."""
    variants = [("host python3", CMD), ("pyroom sandbox run", [BIN, "sandbox", "run", "--"] + CMD)]
    lean = BIN + "-sandbox"
    if os.access(lean, os.X_OK):
        variants.append(("pyroom-sandbox run", [lean, "run", "--"] + CMD))
    if BASELINE:
        variants.append(("baseline sandbox run", [BASELINE, "sandbox", "run", "--"] + CMD))
    if have_bwrap:
        variants.append(("bwrap", bwrap_cmd()))
    times = {name: [] for name, _ in variants}
    per = max(1, N // ROUNDS)
    for _ in range(ROUNDS):
        for _ in range(per):
            for name, cmd in variants:
                times[name].append(one_shot(cmd))
    med = {k: statistics.median(v) for k, v in times.items()}
    print("one-shot command: %d runs each, interleaved, load %s"
          % (per * ROUNDS, open("/proc/loadavg").read().split()[0]))
    print("%-22s %10s %10s %10s" % ("command", "median ms", "p90 ms", "vs host"))
    for name, v in times.items():
        print("%-22s %10.2f %10.2f %9.2fx" % (name, med[name], sorted(v)[int(len(v) * 0.9) - 1],
                                             med[name] / med["host python3"]))
    if "bwrap" in med:
        print("pyroom sandbox run / bwrap: %.2fx (aim: <= 1.00x)"
              % (med["pyroom sandbox run"] / med["bwrap"]))
        if "pyroom-sandbox run" in med:
            print("pyroom-sandbox run / bwrap: %.2fx (aim: <= 1.00x)"
                  % (med["pyroom-sandbox run"] / med["bwrap"]))
    if BASELINE:
        print("pyroom sandbox run, this binary / baseline binary: %.2fx"
              % (med["pyroom sandbox run"] / med["baseline sandbox run"]))


def main():
    have_bwrap = shutil.which("bwrap") is not None
    if os.environ.get("ONE_SHOT_ONLY"):
        one_shot_bench(have_bwrap)
        return
    times = {name: [] for name, _, _ in VARIANTS}
    per = max(1, N // ROUNDS)
    for _ in range(ROUNDS):
        for name, prefix, cmd in VARIANTS:
            if cmd is None:
                if not have_bwrap:
                    continue
                cmd = bwrap_cmd()
            times[name] += run(prefix, cmd, per)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    p90 = {k: sorted(v)[int(len(v) * 0.9) - 1] for k, v in times.items() if v}
    host = med["host python3"]
    print("sandbox bench: `python3 -c pass`, %d runs each, interleaved in %d rounds, load %s"
          % (per * ROUNDS, ROUNDS, open("/proc/loadavg").read().split()[0]))
    print("%-18s %10s %10s %12s %10s" % ("variant", "median ms", "p90 ms", "vs host", "over host"))
    for name in times:
        if name not in med:
            print("%-18s (not installed)" % name)
            continue
        print("%-18s %10.2f %10.2f %11.2fx %+9.2f" % (name, med[name], p90[name],
                                                     med[name] / host, med[name] - host))
    if "bwrap" in med:
        print("pyroom (cgroups) / bwrap: %.2fx; pyroom (rlimits) / bwrap: %.2fx"
              % (med["pyroom (cgroups)"] / med["bwrap"], med["pyroom (rlimits)"] / med["bwrap"]))
    if BASELINE:
        print("pyroom (cgroups), this binary / baseline binary: %.2fx (over host %+.2f -> %+.2f ms)"
              % (med["pyroom (cgroups)"] / med["baseline (cgroups)"],
                 med["baseline (cgroups)"] - host, med["pyroom (cgroups)"] - host))
    print("aim: at most +5 ms over host python, no slower than bwrap")
    one_shot_bench(have_bwrap)


if __name__ == "__main__":
    main()
