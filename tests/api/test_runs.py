"""Runs: the Run button's API, against real sandboxes."""
import concurrent.futures
import json
import secrets
import struct
import zlib

import pytest
import requests

from conftest import Client, Server, error_code


def put(c, w, path, text):
    r = c.put(f"/api/workspaces/{w['id']}/files/{path}", data=text.encode())
    assert r.status_code in (200, 201), r.text


def run(c, w, code=None, wait=True, **body):
    if code is not None:
        put(c, w, body.get("entry", "main.py"), code)
    r = c.post(f"/api/workspaces/{w['id']}/runs" + ("?wait=1" if wait else ""), json=body)
    assert r.status_code == (200 if wait else 202), r.text
    return r.json()


@pytest.fixture
def ws(user):
    return user.workspace("runs")


def test_ok_run(user, ws):
    r = run(user, ws, "print('hello')\nprint(__name__)\n")
    assert r["status"] == "ok" and r["exit_code"] == 0 and r["limit_hit"] == "none"
    assert r["stdout"] == "hello\n__main__\n" and r["stderr"] == ""
    assert r["wall_ms"] > 0 and r["peak_memory_bytes"] > 0 and r["finished_at"]
    again = user.get(f"/api/runs/{r['id']}").json()
    assert again["stdout"] == r["stdout"] and again["status"] == "ok"


PHASES = ("queue_ms", "prepare_ms", "start_ms", "program_ms", "exit_ms", "collect_ms")


def test_record_says_where_the_time_went(user, ws):
    r = run(user, ws, "print(1)\n")
    t = r["timings"]
    assert sorted(t) == sorted(PHASES), t
    assert all(isinstance(t[k], int) and t[k] >= 0 for k in PHASES), t
    assert user.get(f"/api/runs/{r['id']}").json()["timings"] == t
    listed = user.get(f"/api/workspaces/{ws['id']}/runs").json()["items"]
    assert [x["timings"] for x in listed if x["id"] == r["id"]] == [t]
    # a run that has not finished has no phases yet
    q = run(user, ws, "import time\ntime.sleep(60)\n", wait=False)
    assert q["timings"] == {k: None for k in PHASES}, q
    assert user.post(f"/api/runs/{q['id']}/cancel").status_code == 200
    # a file that is not there ends before a program starts: no program phases
    r = run(user, ws, entry="missing.py")
    assert r["status"] == "error", r
    t = r["timings"]
    assert t["queue_ms"] is not None and t["start_ms"] is None and t["program_ms"] is None, t


def test_exception_gives_error_and_relative_traceback(user, ws):
    put(user, ws, "lib/helper.py", "def boom():\n    raise ValueError('boom')\n")
    r = run(user, ws, "import sys\nsys.path.insert(0, 'lib')\nimport helper\nhelper.boom()\n")
    assert r["status"] == "error" and r["exit_code"] == 1
    err = r["stderr"]
    assert 'File "main.py", line 4' in err and 'File "lib/helper.py", line 2' in err
    assert "ValueError: boom" in err
    assert "/home/user" not in err and "/tmp/pyroom" not in err and "data/runs" not in err


def test_stdin_and_args(user, ws):
    code = "import sys\nname = input()\nprint('hi', name, sys.argv[1:])\n"
    r = run(user, ws, code, stdin="bob\n", args=["a b", "--x=1"])
    assert r["stdout"] == "hi bob ['a b', '--x=1']\n"
    r = run(user, ws, "input()\n")  # no stdin: EOF at once, not a hang
    assert r["status"] == "error" and "EOFError" in r["stderr"]


def test_unicode_and_binary_output(user, ws):
    code = ("import sys\nprint('héllo ✓ 日本')\nsys.stdout.flush()\n"
            "sys.stdout.buffer.write(b'\\xff\\xfeok\\n')\n")
    r = run(user, ws, code)
    assert r["stdout"].startswith("héllo ✓ 日本\n")
    assert r["stdout"].endswith("\ufffd\ufffdok\n")


def test_exit_code_and_signal(user, ws):
    r = run(user, ws, "import sys\nsys.exit(3)\n")
    assert r["status"] == "error" and r["exit_code"] == 3
    r = run(user, ws, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert r["status"] == "error" and r["signal"] == 9 and r["exit_code"] is None


@pytest.mark.parametrize("code,limits,hit", [
    ("import time\ntime.sleep(60)\n", {"wall_ms": 1000}, "wall_time"),
    ("while True:\n    pass\n", {"cpu_ms": 500, "wall_ms": 8000}, "cpu_time"),
    ("x = bytearray(512 * 1024 * 1024)\nx[::4096] = b'1' * len(x[::4096])\n",
     {"memory_bytes": 64 * 1024 * 1024}, "memory"),
    ("while True:\n    print('x' * 1000)\n", {"output_bytes": 10000}, "output"),
    ("import os, time\nfor i in range(200):\n    if os.fork() == 0:\n        time.sleep(30)\n"
     "        os._exit(0)\n", {"pids": 16, "wall_ms": 8000}, "pids"),
])
def test_limits(user, ws, code, limits, hit):
    r = run(user, ws, code, limits=limits)
    assert r["status"] == "limit" and r["limit_hit"] == hit, r
    if hit == "output":
        assert r["stdout_truncated"] and len(r["stdout"]) <= 10000
    if hit == "wall_time":
        assert r["wall_ms"] >= 900, r  # not ended before its limit (how late is not asserted)


def test_limits_only_lowered(user, ws, server):
    """A request may lower a limit but never raise it: the effective limit is seen in what
    the program could write (output is the cheapest limit to hit exactly)."""
    defaults = requests.get(server.url + "/api/limits").json()["run"]
    assert defaults["output_bytes"] == 1 << 20
    put(user, ws, "main.py", "import sys\nsys.stdout.write('x' * (3 << 20))\n")
    raised = run(user, ws, limits={"output_bytes": 1 << 40, "wall_ms": 10 ** 9})
    assert (raised["status"], raised["limit_hit"]) == ("limit", "output"), raised
    assert raised["stdout_truncated"] is True
    assert len(raised["stdout"]) == defaults["output_bytes"]
    # pids is enforced by the sandbox alone (output is capped by the runs layer as well).
    # Threads count as pids and start in microseconds (forks of Python can take longer than
    # the 10 s wall limit on a loaded machine).
    threads = ("import threading, time\nfor i in range(100):\n"
               "    threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n")
    raised = run(user, ws, threads, limits={"pids": 10 ** 6})
    assert (raised["status"], raised["limit_hit"]) == ("limit", "pids"), raised
    put(user, ws, "main.py", "import sys\nsys.stdout.write('x' * (3 << 20))\n")
    lowered = run(user, ws, limits={"output_bytes": 1000})
    assert (lowered["status"], lowered["limit_hit"]) == ("limit", "output"), lowered
    assert len(lowered["stdout"]) == 1000
    for bad in ({"wall_ms": -1}, {"wall_ms": 0}, {"wall_ms": "1"}, {"bogus": 1}):
        r = user.post(f"/api/workspaces/{ws['id']}/runs", json={"limits": bad})
        assert r.status_code == 400, (bad, r.text)
        assert error_code(r) == "invalid_field"


def test_bad_requests(user, ws):
    b = f"/api/workspaces/{ws['id']}/runs"
    assert user.post(b, json={"entry": "../x.py"}).status_code == 400
    assert user.post(b, json={"entry": "notes.txt"}).status_code == 400
    assert user.post(b, json={"args": "not a list"}).status_code == 400
    assert user.post(b, json={"args": [1]}).status_code == 400
    r = run(user, ws, None, entry="missing.py")
    assert r["status"] == "error" and "does not exist" in r["stderr"]


def test_cancel_mid_run(user, ws):
    r = run(user, ws, "print('started', flush=True)\nimport time\ntime.sleep(60)\n", wait=False)
    # Wait for the program to be running by reading its first output.
    with user.s.get(user.server.url + f"/api/runs/{r['id']}/events", stream=True, timeout=30) as ev:
        for line in ev.iter_lines():
            if line.startswith(b"data:") and b"started" in line:
                break
    c = user.post(f"/api/runs/{r['id']}/cancel")
    assert c.status_code == 200 and c.json()["status"] == "cancelled"


def test_interactive_stdin_while_running(user, ws):
    r = run(user, ws, "a = input('name? ')\nprint('got', a)\n", wait=False, interactive=True)
    assert user.post(f"/api/runs/{r['id']}/stdin", data=b"carol\n").status_code == 204
    events = read_events(user, r["id"])
    result = [d for e, d in events if e == "result"][0]
    assert result["stdout"] == "name? got carol\n"
    assert user.post(f"/api/runs/{r['id']}/stdin", data=b"late\n").status_code == 409


def read_events(c, run_id):
    out = []
    with c.s.get(c.server.url + f"/api/runs/{run_id}/events", stream=True, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith(b"event: "):
                event = line[7:].decode()
            elif line.startswith(b"data: "):
                out.append((event, json.loads(line[6:])))
                if event == "result":
                    break
    return out


def test_events_stream_in_order_then_result(user, ws):
    # Two pipes have no common order: the program pauses between writes so that the
    # order in which they were produced is observable.
    code = ("import sys, time\nfor i in range(3):\n    print('out', i, flush=True)\n"
            "    time.sleep(0.05)\n"
            "    print('err', i, file=sys.stderr, flush=True)\n    time.sleep(0.05)\n")
    r = run(user, ws, code, wait=False)
    events = read_events(user, r["id"])
    text = "".join(d["data"] for e, d in events if e in ("stdout", "stderr"))
    assert text == "out 0\nerr 0\nout 1\nerr 1\nout 2\nerr 2\n"
    assert events[-1][0] == "result" and events[-1][1]["status"] == "ok"
    # A late subscriber (after the end) gets everything too.
    late = read_events(user, r["id"])
    assert "".join(d["data"] for e, d in late if e == "stdout") == "out 0\nout 1\nout 2\n"


def png_ok(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    crc = struct.unpack(">I", data[29:33])[0]
    assert zlib.crc32(data[12:29]) == crc
    return width, height


def test_plot_becomes_png_artifact(user, ws):
    code = ("import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.show()\n"
            "plt.figure()\nplt.bar(['a', 'b'], [3, 5])\n")  # still open at exit
    r = run(user, ws, code)
    assert r["status"] == "ok", r["stderr"]
    names = [a["name"] for a in r["artifacts"]]
    assert names == ["figure-1.png", "figure-2.png"]
    a = user.get(f"/api/runs/{r['id']}/artifacts/figure-1.png")
    assert a.status_code == 200 and a.headers["Content-Type"] == "image/png"
    w, h = png_ok(a.content)
    assert w > 100 and h > 100
    assert user.get(f"/api/runs/{r['id']}/artifacts/nope.png").status_code == 404


def test_a_figure_left_open_is_the_png_savefig_gives(user, ws):
    """A figure still open at exit becomes an artifact of the very bytes plt.savefig gives
    for it as it is then: the same as a savefig before it if unchanged since, not if changed."""
    code = ("import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.savefig('a.png')\n"
            "plt.figure()\nplt.plot([3, 1])\nplt.savefig('b.png')\nplt.title('changed')\n"
            "import io\nb = io.BytesIO()\nplt.savefig(b, format='png')\n"
            "open('c.png', 'wb').write(b.getvalue())\n")
    r = run(user, ws, code)
    assert r["status"] == "ok", r["stderr"]
    assert [a["name"] for a in r["artifacts"]] == ["figure-1.png", "figure-2.png"]
    art = [user.get(f"/api/runs/{r['id']}/artifacts/figure-{n}.png").content for n in (1, 2)]
    saved = [user.get(f"/api/workspaces/{ws['id']}/files/{n}.png").content for n in "abc"]
    for png in art + saved:
        png_ok(png)
    assert art[0] == saved[0]  # unchanged since its savefig
    assert art[1] != saved[1] and art[1] == saved[2]  # changed: drawn with its title


def test_files_written_by_the_run_are_saved(user, ws):
    code = ("import os\nos.makedirs('out', exist_ok=True)\nopen('out/result.txt', 'w').write('42')\n"
            "os.remove('gone.txt')\n")
    put(user, ws, "gone.txt", "bye")
    r = run(user, ws, code)
    assert r["status"] == "ok", r["stderr"]
    assert user.get(f"/api/workspaces/{ws['id']}/files/out/result.txt").text == "42"
    assert user.get(f"/api/workspaces/{ws['id']}/files/gone.txt").status_code == 404
    paths = [f["path"] for f in user.get(f"/api/workspaces/{ws['id']}/files").json()["items"]]
    assert not any(p.startswith(".pyroom") or "__pycache__" in p for p in paths)


def test_editor_wins_when_both_change_a_file(user, ws):
    """The rule (docs/runs.md): a file the editor saved while the run ran keeps the
    editor's version; the run's version of that file is dropped and a notice says so."""
    put(user, ws, "data.txt", "original")
    code = ("print('ready', flush=True)\ninput()\nopen('data.txt', 'w').write('from run')\n")
    r = run(user, ws, code, wait=False, interactive=True)
    with user.s.get(user.server.url + f"/api/runs/{r['id']}/events", stream=True, timeout=30) as ev:
        for line in ev.iter_lines():
            if b"ready" in line:
                break
    put(user, ws, "data.txt", "from editor")
    assert user.post(f"/api/runs/{r['id']}/stdin", data=b"go\n").status_code == 204
    events = read_events(user, r["id"])
    assert any(e == "notice" and "data.txt" in d["data"] for e, d in events)
    assert user.get(f"/api/workspaces/{ws['id']}/files/data.txt").text == "from editor"


def test_other_user_gets_404(user, ws, make_user):
    r = run(user, ws, "print(1)\nimport matplotlib.pyplot as plt\nplt.plot([1])\n")
    other = make_user()
    for path in (f"/api/runs/{r['id']}", f"/api/runs/{r['id']}/events",
                 f"/api/runs/{r['id']}/artifacts/figure-1.png"):
        assert other.get(path).status_code == 404
    assert other.post(f"/api/runs/{r['id']}/cancel").status_code == 404
    assert other.post(f"/api/runs/{r['id']}/stdin", data=b"x").status_code == 404
    assert other.post(f"/api/workspaces/{ws['id']}/runs", json={}).status_code == 404
    assert other.get(f"/api/workspaces/{ws['id']}/runs").status_code == 404


def test_history_newest_first(user, ws):
    ids = [run(user, ws, f"print({i})\n")["id"] for i in range(3)]
    items = user.get(f"/api/workspaces/{ws['id']}/runs?limit=2").json()
    assert [x["id"] for x in items["items"]] == ids[::-1][:2]
    assert items["next_offset"] == 2 and "stdout" not in items["items"][0]


def test_twenty_concurrent_runs_from_five_users(server, admin):
    users = [Client(server) for _ in range(5)]
    spaces = [u.workspace() for u in users]
    for u, w in zip(users, spaces):
        put(u, w, "main.py", "import sys, time\ntime.sleep(0.2)\nprint(sys.argv[1])\n")

    def go(i):
        u, w = users[i % 5], spaces[i % 5]
        r = u.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={"args": [str(i)]})
        return r.status_code, r.json()

    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        results = list(ex.map(go, range(20)))
    for i, (code, body) in enumerate(results):
        assert code == 200 and body["status"] == "ok", body
        assert body["stdout"] == f"{i}\n"


def test_queue_overflow_is_429():
    srv = Server(extra=["--max-runs", "1", "--run-queue", "1"]).start()
    try:
        c = Client(srv)
        w = c.workspace()
        put(c, w, "main.py", "import time\ntime.sleep(30)\n")
        first = c.post(f"/api/workspaces/{w['id']}/runs", json={})
        second = c.post(f"/api/workspaces/{w['id']}/runs", json={})
        third = c.post(f"/api/workspaces/{w['id']}/runs", json={})
        assert first.status_code == 202 and second.status_code == 202
        assert third.status_code == 429 and error_code(third) == "rate_limited"
        assert int(third.headers["Retry-After"]) >= 1
        for r in (first, second):
            c.post(f"/api/runs/{r.json()['id']}/cancel")
    finally:
        srv.stop()


def test_runs_per_minute_is_429():
    srv = Server(extra=["--runs-per-minute", "2"]).start()
    try:
        c = Client(srv)
        w = c.workspace()
        codes = [c.post(f"/api/workspaces/{w['id']}/runs", json={}).status_code for _ in range(3)]
        assert codes == [202, 202, 429]
    finally:
        srv.stop()


def test_kill9_mid_run_leaves_no_run_running():
    srv = Server().start()
    c = Client(srv)
    w = c.workspace()
    put(c, w, "main.py", "print('x', flush=True)\nimport time\ntime.sleep(60)\n")
    r = c.post(f"/api/workspaces/{w['id']}/runs", json={}).json()
    with c.s.get(srv.url + f"/api/runs/{r['id']}/events", stream=True, timeout=30) as ev:
        for line in ev.iter_lines():
            if line.startswith(b"data:"):
                break
    assert c.get(f"/api/runs/{r['id']}").json()["status"] == "running"
    srv.kill9()
    srv.start()
    again = Client(srv, username=c.username, register=False)
    assert again.login().status_code == 200
    body = again.get(f"/api/runs/{r['id']}").json()
    assert body["status"] == "failed" and "restart" in body["reason"]
    assert srv.stop() == 0


def test_run_write_back_is_announced_to_open_pages(user, ws):
    import threading
    seen = threading.Event()
    opened = threading.Event()

    def listen():
        with user.s.get(user.server.url + f"/api/workspaces/{ws['id']}/events", stream=True,
                        timeout=30) as r:
            for line in r.iter_lines():
                opened.set()  # the stream's first line (its retry hint) came
                if line.startswith(b"data:") and b"announced.txt" in line:
                    seen.set()
                    return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert opened.wait(20)
    r = run(user, ws, "open('announced.txt', 'w').write('hi')\n")
    assert r["status"] == "ok"
    assert seen.wait(20), "no file_changed event for a file the run wrote"


def test_shell_entry_runs_with_bash(user, ws):
    put(user, ws, "hello.sh", 'echo "shell says $1"\n')
    r = run(user, ws, None, entry="hello.sh", args=["hi"])
    assert r["status"] == "ok" and r["stdout"] == "shell says hi\n"


@pytest.mark.parametrize("pool", ["false", "true"], ids=["cold", "warm-pool"])
def test_run_holds_no_server_file_descriptor(monkeypatch, pool):
    """A run sees no descriptor of the server's and none of its environment, and no process
    it can see (its pid 1 is a fork of the supervisor, itself a fork of `serve`) shows the
    server's command line or environment in /proc: this server gets its database URL and a
    canary through the environment as well as the flag."""
    srv = Server(extra=["--warm-pool", pool])
    canary = "canary-" + secrets.token_hex(8)
    monkeypatch.setenv("PYROOM_DATABASE", srv.database)
    monkeypatch.setenv("PYROOM_TEST_CANARY", canary)
    srv.start()
    try:
        c = Client(srv)
        w = c.workspace("fds")
        code = ("import json, os\n"
                "fds = sorted(int(f) for f in os.listdir('/proc/self/fd'))\n"
                "views = {}\n"
                "for p in os.listdir('/proc'):\n"
                "    for f in ('cmdline', 'environ'):\n"
                "        try:\n"
                "            views[p + '/' + f] = open('/proc/%s/%s' % (p, f), 'rb').read()\n"
                "        except OSError as e:\n"
                "            views[p + '/' + f] = repr(e).encode()\n"
                "views = {k: v.decode('latin-1') for k, v in views.items()}\n"
                "print(json.dumps([fds, dict(os.environ), os.getuid(), views]))\n")
        r = run(c, w, code)
        assert r["status"] == "ok", r
        fds, env, uid, views = json.loads(r["stdout"])
        assert "1/cmdline" in views
        for where, text in views.items():
            assert srv.database not in text and canary not in text, (where, text)
        assert fds == [0, 1, 2, 3], fds  # stdio and listdir's own descriptor
        assert uid == 1000
        assert "PYROOM_DATABASE" not in env and "PYROOM_TEST_CANARY" not in env, env
        for value in env.values():
            assert canary not in value and srv.database not in value, env
    finally:
        assert srv.stop() == 0


def test_late_event_stream_of_an_ended_run_closes_after_the_result(user, ws):
    """A stream pulled from a fill function ended only on a wake that never came: the late
    subscriber got the result and then keepalives until it gave up."""
    r = run(user, ws, "print('hi')\n")
    with user.s.get(user.server.url + f"/api/runs/{r['id']}/events", stream=True,
                    timeout=10) as ev:
        text = ev.content.decode()  # read until the server closes (ReadTimeout otherwise)
    assert text.rstrip().splitlines()[-1].startswith("data: ") and "event: result" in text
