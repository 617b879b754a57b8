"""What is left after `serve` dies or is stopped while runs and terminals are live.

kill -9 of `serve`: the supervisor sees its socket close and kills every sandbox; nothing of
the sandboxes may outlive it (processes, their cgroups, the workspace mounts, the scratch
directories under the data dir), and a restart on the same database and data dir fails the
interrupted run and serves again. SIGTERM and SIGINT: a clean stop (exit 0) that ends the
live runs and terminals the same way.

Every process, cgroup and mount is identified by something unique to this test (a marker in
a command line, this server's data dir), never by name: other pyrooms run on this machine.
"""
import os
import signal
import time
import uuid

import pytest

from conftest import Client, Server
from test_terminals import Term

DEADLINE = 30


def wait_until(fn, what, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while True:
        v = fn()
        if v or time.monotonic() > end:
            break
        time.sleep(0.05)
    assert v, "not within %ds: %s" % (deadline, what)
    return v


def pids_with(marker):
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(p))
            except OSError:
                pass
    return found


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/stat" % p) as f:
                    if int(f.read().split(") ", 1)[1].split()[1]) == pid:
                        out.append(int(p))
            except (OSError, ValueError, IndexError):
                pass
    return out


def cgroup_dirs(pid):
    """The sandbox cgroup directories (pyroom-*) a process is in, as host paths."""
    dirs = []
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if "pyroom-" not in path:
                continue
            for c in ctrls.split(",") if ctrls else ["unified"]:
                c = c.replace("name=", "")
                for root in ("/sys/fs/cgroup/" + c, "/sys/fs/cgroup"):
                    if os.path.isdir(root + path):
                        dirs.append(root + path)
                        break
    return dirs


def mounts_under(path, pid="self"):
    with open("/proc/%s/mountinfo" % pid) as f:
        return [ln.split()[4] for ln in f if ln.split()[4].startswith(path)]


def scratch(srv):
    data = os.path.join(srv.tmp, "data")
    out = []
    for sub in ("runs", "envs"):
        d = os.path.join(data, sub)
        if os.path.isdir(d):
            out += [os.path.join(d, x) for x in os.listdir(d)]
    return out


def no_cgroup_left(dirs):
    """Each directory is gone, or (its slot taken again by another pyroom) holds none of ours."""
    return all(not os.path.isdir(d) or open(os.path.join(d, "cgroup.procs")).read().strip()
               for d in dirs)


def start_live_work(srv, marker):
    """A run and a terminal, each with a process whose command line holds marker."""
    c = Client(srv)
    w = c.workspace("live")
    r = c.put(f"/api/workspaces/{w['id']}/files/main.py",
              data=b"import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    assert r.status_code in (200, 201), r.text
    run = c.post(f"/api/workspaces/{w['id']}/runs", json={"args": [marker + "-run"]})
    assert run.status_code == 202, run.text
    t = Term(c, w["id"])
    t.run(f"{{ (exec -a {marker}-term sleep 600) & }}")
    wait_until(lambda: pids_with(marker + "-run") and pids_with(marker + "-term"),
               "the run and the terminal's process are up")
    return c, run.json(), t


@pytest.fixture
def marker():
    return "crash-" + uuid.uuid4().hex[:12]


def snapshot(srv, marker):
    """Everything of this server's sandboxes, seen from the host."""
    sandbox = pids_with(marker)
    sup = children(srv.proc.pid)
    assert sup, "serve has no supervisor child"
    cgroups = sorted({d for p in sandbox for d in cgroup_dirs(p)})
    data = os.path.join(srv.tmp, "data")
    mounts = mounts_under(data) + [m for s in sup for m in mounts_under(data, s)]
    return sandbox, sup, cgroups, mounts


def assert_all_gone(srv, marker, sandbox, sup, cgroups):
    wait_until(lambda: not any(alive(p) for p in sandbox + sup),
               "every sandbox process and the supervisor are gone")
    assert pids_with(marker) == []
    wait_until(lambda: no_cgroup_left(cgroups), "the sandboxes' cgroups are removed")


def assert_restart_cleans(srv, client, run):
    srv.start()  # same database, same data dir
    try:
        data = os.path.join(srv.tmp, "data")
        wait_until(lambda: scratch(srv) == [], "the scratch directories are removed")
        assert mounts_under(data) == []
        r = client.get(f"/api/runs/{run['id']}")
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["reason"]) == ("failed", "the server restarted while it ran")
        # and it serves runs again
        w = client.workspace("after")
        client.put(f"/api/workspaces/{w['id']}/files/main.py", data=b"print('again')\n")
        again = client.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={})
        assert (again.status_code, again.json()["stdout"]) == (200, "again\n"), again.text
    finally:
        assert srv.stop() == 0


def test_kill9_of_serve_leaves_nothing_behind(marker):
    srv = Server().start()
    client, run, term = start_live_work(srv, marker)
    sandbox, sup, cgroups, mounts = snapshot(srv, marker)
    assert len(sandbox) >= 2, sandbox
    # mounts: per-run workspace file systems (where the build makes them) must not outlive
    # their sandbox either; checked after the restart.
    assert cgroups or "rlimit" in open(srv.log_path).read(), "no cgroup seen for a sandbox"
    srv.kill9()
    assert_all_gone(srv, marker, sandbox, sup, cgroups)
    term.ws.close()
    assert_restart_cleans(srv, client, run)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_ends_live_runs_and_terminals(marker, sig):
    srv = Server().start()
    client, run, term = start_live_work(srv, marker)
    sandbox, sup, cgroups, mounts = snapshot(srv, marker)
    srv.proc.send_signal(sig)
    assert srv.proc.wait(DEADLINE) == 0
    assert_all_gone(srv, marker, sandbox, sup, cgroups)
    assert scratch(srv) == []
    assert mounts_under(os.path.join(srv.tmp, "data")) == []
    assert term.wait_closed()
    term.ws.close()
    srv.start()
    try:
        r = client.get(f"/api/runs/{run['id']}").json()
        assert (r["status"], r["reason"]) == ("cancelled", None), r
        assert r["finished_at"], r
    finally:
        assert srv.stop() == 0
