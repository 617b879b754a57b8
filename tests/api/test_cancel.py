"""Cancel is a state a run cannot leave: once POST /cancel answered `cancelled`, the
sandbox is dead at once, whatever phase the run was in (issue 13)."""
import json
import threading
import time

import pytest

from conftest import Client, Server

PROGRAM = ("import sys, time\nprint('ready', flush=True)\nline = sys.stdin.readline()\n"
           "print('echo', line.strip(), flush=True)\ntime.sleep(30)\n")


@pytest.fixture(scope="module")
def cold():
    srv = Server(extra=["--warm-pool", "false", "--run-wall-ms", "10000",
                        "--max-runs", "8", "--max-runs-per-user", "1", "--runs-per-minute", "1000"]).start()
    yield srv
    srv.stop()


def put(c, w, path, text):
    r = c.put(f"/api/workspaces/{w['id']}/files/{path}", data=text.encode())
    assert r.status_code in (200, 201), r.text


def wait_output(c, run_id, needle, timeout=30):
    """Reads the run's events until its stdout so far holds needle (an unbuffered print
    arrives in pieces)."""
    out = ""
    with c.s.get(c.server.url + f"/api/runs/{run_id}/events", stream=True, timeout=timeout) as ev:
        event = None
        for line in ev.iter_lines():
            if line.startswith(b"event: "):
                event = line[7:].decode()
            elif line.startswith(b"data: ") and event == "stdout":
                out += json.loads(line[6:])["data"]
                if needle in out:
                    return
    raise AssertionError(f"{needle!r} never came: {out!r}")


def finished(c, run_id, deadline_s):
    """The stored run once it is no longer queued/running, or None at the deadline."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        r = c.get(f"/api/runs/{run_id}").json()
        if r["status"] not in ("queued", "running"):
            return r
        time.sleep(0.01)
    return None


def test_cancel_right_after_echo_kills_at_once(cold):
    """The issue's reproduction: interactive run, send a line, cancel right after the
    echo. Eight tries, each must end cancelled long before the 10 s wall limit."""
    c = Client(cold)
    w = c.workspace("cancel")
    put(c, w, "main.py", PROGRAM)
    for _ in range(8):
        r = c.post(f"/api/workspaces/{w['id']}/runs", json={"interactive": True})
        assert r.status_code == 202, r.text
        rid = r.json()["id"]
        wait_output(c, rid, "ready")
        assert c.post(f"/api/runs/{rid}/stdin", data=b"hi\n").status_code == 204
        wait_output(c, rid, "echo hi")
        t0 = time.monotonic()
        a = c.post(f"/api/runs/{rid}/cancel")
        took = time.monotonic() - t0
        assert a.status_code == 200 and a.json()["status"] == "cancelled", a.text
        assert a.json()["limit_hit"] == "none", a.text
        assert took < 2, f"cancel took {took:.1f} s"


def marker_alive(marker):
    """True while a process of this host has marker in its command line (the sandboxed
    program gets it as an argument, so this sees the sandbox from outside)."""
    import os
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    return True
        except OSError:
            pass
    return False


PHASES = {
    # program, how to get to the phase before cancelling
    "starting": ("import time\ntime.sleep(30)\n", None),
    # printing all the time, but slowly enough never to reach the output cap first
    "pumping": ("import itertools, time\nfor i in itertools.count():\n    print(i, flush=True)\n"
                "    time.sleep(0.002)\n", "0\n"),
    "stdin": ("import sys\nprint('ready', flush=True)\nsys.stdin.readline()\n", "ready"),
    "echoed": (PROGRAM, "echo hi"),
}


@pytest.mark.parametrize("phase", sorted(PHASES) + ["queued"])
def test_cancel_in_every_phase(cold, phase):
    """Ten cancels per phase: each answers `cancelled`, no limit, and when it answers the
    sandbox's processes are gone."""
    import secrets
    c = Client(cold)
    w = c.workspace("phases")
    code, wait_for = PHASES.get(phase, ("import time\ntime.sleep(30)\n", None))
    put(c, w, "main.py", code)
    blocker = None
    if phase == "queued":
        # The node's per-user cap is 1 on this server: a first run holds it.
        blocker = c.post(f"/api/workspaces/{w['id']}/runs", json={}).json()["id"]
    took = []
    for _ in range(10):
        marker = "pyroom-marker-" + secrets.token_hex(6)
        r = c.post(f"/api/workspaces/{w['id']}/runs",
                   json={"interactive": True, "args": [marker]})
        assert r.status_code == 202, r.text
        rid = r.json()["id"]
        if phase == "queued":
            assert r.json()["status"] == "queued"
        if wait_for:
            if phase == "echoed":
                wait_output(c, rid, "ready")
                assert c.post(f"/api/runs/{rid}/stdin", data=b"hi\n").status_code == 204
            wait_output(c, rid, wait_for)
        t0 = time.monotonic()
        a = c.post(f"/api/runs/{rid}/cancel")
        took.append(time.monotonic() - t0)
        assert a.status_code == 200, a.text
        body = a.json()
        assert body["status"] == "cancelled" and body["limit_hit"] == "none", body
        assert not marker_alive(marker), f"{phase}: the sandbox outlived its cancel"
        assert c.get(f"/api/runs/{rid}").json()["status"] == "cancelled"
    if blocker:
        assert c.post(f"/api/runs/{blocker}/cancel").json()["status"] == "cancelled"
    took.sort()
    print(f"cancel {phase}: median {took[len(took) // 2] * 1000:.0f} ms, "
          f"max {took[-1] * 1000:.0f} ms (cancel answered once the sandbox was gone)")
