"""cgroup v2, exercised on whatever host runs the suite.

- A v2-only host: pyroom already runs on v2 (every cgroup-mode test uses it); this test
  checks that `sandbox info` says so and that memory and pids limits hit on v2.
- A hybrid host (v1 hierarchies plus a cgroup2 mount) whose v2 hierarchy has the memory
  and pids controllers free: in a private mount namespace, cgroup2 is mounted over
  /sys/fs/cgroup, the test moves itself into a fresh cgroup of its own there and runs the
  same checks, so pyroom's v2 code runs.
- A hybrid host whose memory and pids controllers are bound to v1 (as on the machine this
  was written on: cgroup2 offers only hugetlb) cannot give v2 any limit: the test skips with
  a printed "host:" reason.
"""
import json
import os
import subprocess
import uuid

import pytest

from conftest import BIN

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

BOMB = "a = []\nwhile True: a.append(bytearray(1 << 20))\n"
FORKS = ("import os, time\nfor i in range(64):\n    if os.fork() == 0:\n"
         "        time.sleep(30)\n        os._exit(0)\n")


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            if right.split()[0] == "cgroup2":
                return left.split()[4]
    return None


def check(out):
    """`info` then two results, as printed by the script below."""
    lines = out.strip().splitlines()
    assert lines[0].startswith("sandbox: cgroup v2 under "), out
    memory = json.loads(lines[1])
    pids = json.loads(lines[2])
    assert (memory["limit_hit"], memory["signal"]) == ("memory", 9), memory
    assert pids["limit_hit"] == "pids", pids


SCRIPT = """
{setup}
{bin} sandbox info
{bin} sandbox run --memory 64M -- python3 -c '{bomb}' 2>&1 >/dev/null | tail -n 1
{bin} sandbox run --pids 16 --wall-ms 20000 -- python3 -c '{forks}' 2>&1 >/dev/null | tail -n 1
"""


def test_cgroup_v2_limits():
    mnt = cgroup2_mount()
    if mnt is None:
        pytest.skip("host: no cgroup2 file system is mounted here")
    if mnt == "/sys/fs/cgroup":  # v2 only: pyroom uses it as it is
        p = subprocess.run(["sh", "-c", SCRIPT.format(setup="", bin=BIN, bomb=BOMB, forks=FORKS)],
                           capture_output=True, text=True, timeout=180)
        check(p.stdout)
        return
    with open(os.path.join(mnt, "cgroup.controllers")) as f:
        ctrls = f.read().split()
    if not {"memory", "pids"} <= set(ctrls):
        pytest.skip("host: the cgroup2 hierarchy at %s has no memory/pids controllers (%s); "
                    "they are bound to the v1 hierarchies" % (mnt, " ".join(ctrls) or "none"))
    name = "pyroom-test-" + uuid.uuid4().hex[:12]
    setup = ("set -e; mount -t cgroup2 none /sys/fs/cgroup; mkdir /sys/fs/cgroup/{n}; "
             "echo $$ > /sys/fs/cgroup/{n}/cgroup.procs; set +e").format(n=name)
    try:
        p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            SCRIPT.format(setup=setup, bin=BIN, bomb=BOMB, forks=FORKS)],
                           capture_output=True, text=True, timeout=180)
        check(p.stdout)
    finally:
        d = os.path.join(mnt, name)
        for sub in sorted(os.listdir(d), reverse=True) if os.path.isdir(d) else []:
            if os.path.isdir(os.path.join(d, sub)):
                os.rmdir(os.path.join(d, sub))
        if os.path.isdir(d):
            os.rmdir(d)
