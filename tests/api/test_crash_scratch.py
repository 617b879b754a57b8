"""What a crash leaves behind (issue 13): the next start cleans the scratch state of dead
servers only, and a run cut short keeps the output it had printed."""
import fcntl
import functools
import os
import random
import signal
import subprocess
import time

import conftest
from conftest import Client, Server

RUN_PARENT = "/run"


def start_in_own_group(srv):
    """Starts srv as the leader of its own process group (server and supervisor), so the
    test can kill the group at once, as an operator's kill -9 of a unit would."""
    orig = conftest.subprocess.Popen
    conftest.subprocess.Popen = functools.partial(orig, start_new_session=True)
    try:
        return srv.start()
    finally:
        conftest.subprocess.Popen = orig


def kill_group(srv):
    if srv.proc.poll() is None:
        os.killpg(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(10)


def children(pid):
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            out += [int(x) for x in f.read().split()]
    return out


def pid_dead(pid, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_dead_servers_pool_directory_is_removed_at_next_start(tmp_path):
    a = start_in_own_group(Server(extra=["--warm-pool", "true"]))
    try:
        sup = children(a.proc.pid)
    finally:
        kill_group(a)
    pools = [f"{RUN_PARENT}/pyroom-pool-{p}" for p in sup if os.path.isdir(f"{RUN_PARENT}/pyroom-pool-{p}")]
    assert len(pools) == 1, sup
    assert all(pid_dead(p) for p in sup)
    assert os.path.isdir(pools[0]), "the crash should have left it (else this test proves nothing)"

    # Two look-alikes that must survive: a live pid (ours), and a dead pid whose lock is
    # held (a live server in another pid namespace sharing /run).
    live = f"{RUN_PARENT}/pyroom-pool-{os.getpid()}"
    os.makedirs(live, exist_ok=True)
    # A random one: another test run on this host (they share /run) picks its own.
    dead_pid = next(p for p in random.sample(range(4190000, 4194000), 4000)
                    if not os.path.exists(f"/proc/{p}") and not os.path.exists(f"{RUN_PARENT}/pyroom-pool-{p}"))
    locked = f"{RUN_PARENT}/pyroom-pool-{dead_pid}"
    os.makedirs(locked, exist_ok=True)
    fd = os.open(locked, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        b = Server(extra=["--warm-pool", "true"]).start()
        b.stop()
        assert not os.path.exists(pools[0])
        assert os.path.isdir(live) and os.path.isdir(locked)
    finally:
        os.close(fd)
        os.rmdir(live)
        os.rmdir(locked)


def test_run_cut_by_a_crash_keeps_its_output(tmp_path):
    a = start_in_own_group(Server(extra=["--warm-pool", "false", "--run-wall-ms", "60000"]))
    try:
        check_output_survives(a)
    finally:
        kill_group(a)


def check_output_survives(a):
    c = Client(a)
    w = c.workspace("crash")
    code = "import time\nfor i in range(3):\n    print('line', i, flush=True)\ntime.sleep(60)\n"
    assert c.put(f"/api/workspaces/{w['id']}/files/main.py", data=code.encode()).status_code in (200, 201)
    rid = c.post(f"/api/workspaces/{w['id']}/runs", json={}).json()["id"]
    want = "line 0\nline 1\nline 2\n"
    end = time.monotonic() + 30
    while time.monotonic() < end:
        r = c.get(f"/api/runs/{rid}").json()
        if r["stdout"] == want:
            break
        time.sleep(0.05)
    assert r["status"] == "running" and r["stdout"] == want, r
    kill_group(a)
    # The restart, on the same data directory (as a unit restart would be): it knows its
    # predecessor from DATA_DIR/node.id, even on PostgreSQL where other nodes may be alive.
    b = Server(database=a.database)
    b.tmp = a.tmp
    b.start()
    try:
        c.server = b
        r = c.get(f"/api/runs/{rid}").json()
        assert r["status"] == "failed" and r["stdout"] == want, r
    finally:
        b.stop()


def test_kill9_during_write_back_is_all_or_nothing():
    """A run that wrote 900 files is killed (kill -9 of the server's group) while its
    files are being stored: after the restart the workspace holds all of them or none,
    never a part (issue 13 saw 34 of 900). The kill lands at staggered moments after the
    program's last line, so some tries fall inside the write-back; every try must hold."""
    code = ("import os\nos.makedirs('out', exist_ok=True)\n"
            "for i in range(900):\n"
            "    open(f'out/f{i:03d}.txt', 'w').write('x' * 4096)\n"
            "print('written', flush=True)\n")
    seen = []
    for delay in (0.0, 0.02, 0.05, 0.1, 0.2):
        a = start_in_own_group(Server(extra=["--warm-pool", "false"]))
        try:
            c = Client(a)
            w = c.workspace("wb")
            c.put(f"/api/workspaces/{w['id']}/files/main.py", data=code.encode())
            rid = c.post(f"/api/workspaces/{w['id']}/runs", json={}).json()["id"]
            end = time.monotonic() + 60
            while time.monotonic() < end and "written" not in c.get(f"/api/runs/{rid}").json()["stdout"]:
                time.sleep(0.01)  # polling period
            time.sleep(delay)  # where the kill lands, not synchronisation
        finally:
            kill_group(a)
        b = Server(database=a.database)
        b.tmp = a.tmp  # the restart, on the same data directory
        b.start()
        try:
            c.server = b
            items = c.get(f"/api/workspaces/{w['id']}/files").json()["items"]
            n = sum(1 for x in items if x["path"].startswith("out/f"))
            assert n in (0, 900), (delay, n)
            seen.append(n)
        finally:
            b.stop()
    assert seen, seen
