"""The supervisor's failure paths: either side dying ends every sandbox; leftovers are swept."""
import json
import os
import select
import signal
import subprocess
import uuid

import pytest

from conftest import BIN, host_pids_with, host_uid

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

UID_BASE = 2000000000


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def wait_exit(pid, timeout=30):
    """Waits for a process that is not our child to exit, without polling (pidfd)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        r, _, _ = select.select([fd], [], [], timeout)
        assert r, "process %d did not exit" % pid
    finally:
        os.close(fd)


def slot_cgroup(slot):
    """The slot's sandbox cgroup: in the v1 memory hierarchy, or in the one v2 hierarchy."""
    with open("/proc/self/cgroup") as f:
        lines = [l.rstrip("\n").split(":", 2) for l in f]
    for _, ctrls, rel in lines:
        if "memory" in ctrls.split(","):
            return "/sys/fs/cgroup/memory%s/pyroom-sb%d" % (rel.rstrip("/"), slot)
    rel = [rel for hier, _, rel in lines if hier == "0"][0]
    return "/sys/fs/cgroup%s/pyroom-sb%d" % (rel.rstrip("/"), slot)


def start(marker):
    """A CLI with a sandbox that has started (it printed 'ready') and waits on stdin."""
    p = subprocess.Popen([BIN, "sandbox", "run", "--wall-ms", "60000", "--", "python3", "-c",
                          "import sys; print('ready', flush=True); sys.stdin.read()", marker],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"ready\n"
    sup = children(p.pid)
    assert len(sup) == 1
    with open("/proc/%d/comm" % sup[0]) as f:
        assert f.read().strip() == "pyroom-sup"
    prog = host_pids_with(marker, program=b"python3")
    assert len(prog) == 1
    return p, sup[0], prog[0]


def test_server_death_ends_every_sandbox():
    marker = "srvdeath-" + uuid.uuid4().hex
    p, sup, prog = start(marker)
    p.kill()  # the "server" dies without a word
    p.wait()
    wait_exit(sup)  # the supervisor saw EOF, killed its sandboxes and exited
    assert host_pids_with(marker, program=b"python3") == []


def test_supervisor_death_ends_every_sandbox_and_is_noticed():
    marker = "supdeath-" + uuid.uuid4().hex
    p, sup, prog = start(marker)
    slot = host_uid(prog) - UID_BASE
    leftover = slot_cgroup(slot)
    had_cgroup = os.path.isdir(leftover)
    os.kill(sup, signal.SIGKILL)
    out, err = p.communicate(timeout=30)
    # the client noticed: an error, not a hang
    assert p.returncode == 125 and b"error" in err.splitlines()[-1], err
    assert host_pids_with(marker, program=b"python3") == []
    # the dead supervisor left the slot's cgroup behind; the next start sweeps it
    assert os.path.isdir(leftover) == had_cgroup
    info = subprocess.run([BIN, "sandbox", "info"], check=True, stdout=subprocess.PIPE)
    if b"cgroup v" in info.stdout:
        # `info` started a supervisor, whose start-up sweep removed it
        assert not os.path.isdir(leftover)


def test_many_sandboxes_at_once_through_one_supervisor():
    """--repeat runs sandboxes back to back through one supervisor; slots are reused."""
    p = subprocess.run([BIN, "sandbox", "run", "--repeat", "30", "--", "true"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    lines = [json.loads(l) for l in p.stderr.decode().splitlines() if l.startswith("{")]
    assert len(lines) == 30 and all(r["exit_code"] == 0 for r in lines), lines[:3]
