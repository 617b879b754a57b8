"""Interactive runs waiting for input (issue 19, B5's server half): time blocked reading
stdin does not count toward the wall limit, a separate idle limit (--run-idle-ms) ends a
run that waits too long and says so (limit_hit "idle"), and everything else (a CPU loop, a
sleep) still ends at the wall limit. Warm and cold interpreters alike."""
import time

import pytest

from conftest import Client, Server


def put(c, ws, text):
    r = c.put(f"/api/workspaces/{ws}/files/main.py", data=text.encode())
    assert r.status_code in (200, 201), r.text


def start(c, ws, code, **limits):
    put(c, ws, code)
    r = c.post(f"/api/workspaces/{ws}/runs", json={"interactive": True, "limits": limits})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def wait_end(c, run, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = c.get(f"/api/runs/{run}").json()
        if r["status"] not in ("queued", "running"):
            return r
        time.sleep(0.1)
    raise AssertionError(f"run {run} did not end within {seconds} s")


def wait_running(c, run):
    deadline = time.monotonic() + 60
    while c.get(f"/api/runs/{run}").json()["status"] != "running":
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.05)


def waiting(c, run, seconds):
    """Lets seconds go by while the run waits for input, checking it is still running."""
    wait_running(c, run)
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        assert c.get(f"/api/runs/{run}").json()["status"] == "running"
        time.sleep(0.1)


@pytest.fixture(scope="module", params=["warm", "cold"])
def srv(request):
    s = Server(extra=["--run-idle-ms", "4000", "--warm-pool",
                      "true" if request.param == "warm" else "false"]).start()
    yield s
    assert s.stop() == 0


def test_waiting_for_input_does_not_count_toward_the_wall_limit(srv):
    c = Client(srv)
    ws = c.workspace("input")["id"]
    run = start(c, ws, "name = input('name? ')\nprint('hi', name)\n", wall_ms=1000)
    waiting(c, run, 3)  # three times the wall limit
    assert c.post(f"/api/runs/{run}/stdin", data=b"ada\n").status_code == 204
    r = wait_end(c, run)
    assert (r["status"], r["limit_hit"], r["stdout"]) == ("ok", "none", "name? hi ada\n"), r
    assert r["wall_ms"] >= 3000


def test_waiting_too_long_ends_with_the_idle_limit(srv):
    c = Client(srv)
    ws = c.workspace("idle")["id"]
    run = start(c, ws, "print('waiting', flush=True)\ninput()\nprint('never')\n", wall_ms=1000)
    r = wait_end(c, run)
    assert (r["status"], r["limit_hit"]) == ("limit", "idle"), r
    assert r["stdout"] == "waiting\n"
    assert r["wall_ms"] >= 4000


def test_waits_add_up_toward_the_idle_limit(srv):
    """Two waits of 2.5 s each pass the 4 s idle limit together."""
    c = Client(srv)
    ws = c.workspace("waits")["id"]
    run = start(c, ws, "input()\nprint('one', flush=True)\ninput()\nprint('two')\n", wall_ms=1000)
    waiting(c, run, 2.5)
    assert c.post(f"/api/runs/{run}/stdin", data=b"1\n").status_code == 204
    r = wait_end(c, run)
    assert (r["status"], r["limit_hit"], r["stdout"]) == ("limit", "idle", "one\n"), r


@pytest.mark.parametrize("code", [
    "input_ok = True\nwhile True:\n    pass\n",
    "import time\ntime.sleep(60)\n",
])
def test_anything_else_still_ends_at_the_wall_limit(srv, code):
    c = Client(srv)
    ws = c.workspace("busy")["id"]
    run = start(c, ws, code, wall_ms=1500, cpu_ms=30000)
    r = wait_end(c, run)
    assert (r["status"], r["limit_hit"]) == ("limit", "wall_time"), r


def test_a_run_that_is_not_interactive_has_no_idle_time(srv):
    """Without "interactive", stdin is what was given and then its end: input() gets EOF at
    once, nothing waits, and the wall limit is the only clock."""
    c = Client(srv)
    ws = c.workspace("batch")["id"]
    put(c, ws, "import time\nprint(input())\ntime.sleep(60)\n")
    r = c.post(f"/api/workspaces/{ws}/runs?wait=1",
               json={"stdin": "given\n", "limits": {"wall_ms": 1500}})
    r = r.json()
    assert (r["status"], r["limit_hit"], r["stdout"]) == ("limit", "wall_time", "given\n"), r
