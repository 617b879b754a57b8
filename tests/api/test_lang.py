"""Language services: completion, signatures, hover, definitions, diagnostics and formatting,
answered by sandboxed workers (src/exec/lang.c), and what hostile sources cannot do to them.
"""
import concurrent.futures
import os
import time

import pytest

from conftest import DB_KIND, Client, Server, error_code, lang_worker_pids


def put(c, ws, path, text):
    r = c.put(f"/api/workspaces/{ws['id']}/files/{path}", data=text.encode())
    assert r.status_code in (200, 201), r.text


def ask(c, ws, op, **body):
    return c.post(f"/api/workspaces/{ws['id']}/{op}", json=body)


def end_of(src):
    """(line, column) of the end of src, as the API counts them."""
    lines = src.split("\n")
    return len(lines), len(lines[-1])


def complete(c, ws, src, path="main.py"):
    line, col = end_of(src)
    r = ask(c, ws, "complete", path=path, source=src, line=line, column=col)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def public(items):
    return [i["label"] for i in items if not i["label"].startswith("__")]


@pytest.fixture(scope="module")
def lang_user(server, admin):
    """One user whose worker stays warm for the module (workers are per user)."""
    c = Client(server)
    return c, c.workspace("lang")


def test_numpy_completes_with_signature(lang_user):
    c, ws = lang_user
    src = "import numpy as np\nnp.lin"
    items = complete(c, ws, src)
    labels = [i["label"] for i in items]
    assert "linspace" in labels
    item = next(i for i in items if i["label"] == "linspace")
    assert item["kind"] == "function"
    assert item["insert"] == "space"  # the rest of the word after what was typed

    src = "import numpy as np\nnp.linspace(0, "
    line, col = end_of(src)
    r = ask(c, ws, "signature", path="main.py", source=src, line=line, column=col)
    assert r.status_code == 200, r.text
    sigs = r.json()["signatures"]
    assert sigs and sigs[0]["label"].startswith("linspace(")
    assert sigs[0]["params"][0].startswith("start")
    assert sigs[0]["active_param"] == 1
    assert "evenly spaced" in sigs[0]["doc"]


def test_hover_shows_signature_and_doc(lang_user):
    c, ws = lang_user
    src = "import numpy as np\nnp.linspace(0, 1)"
    r = ask(c, ws, "hover", path="main.py", source=src, line=2, column=5)
    assert r.status_code == 200, r.text
    md = r.json()["markdown"]
    assert md.startswith("```python\nlinspace(")
    assert "evenly spaced" in md
    # Nothing under the cursor: an empty card, not an error.
    r = ask(c, ws, "hover", path="main.py", source="\n\n", line=2, column=0)
    assert r.status_code == 200 and r.json() == {"markdown": ""}


def test_workspace_function_completes_and_jumps(lang_user):
    c, ws = lang_user
    put(c, ws, "util.py", "def helper(a, b):\n    '''Adds a and b.'''\n    return a + b\n")
    put(c, ws, "pkg/tools.py", "\n\nclass Gadget:\n    pass\n")
    items = complete(c, ws, "import util\nutil.hel")
    assert [i["label"] for i in items] == ["helper"]

    src = "import util\nutil.helper(1, 2)\n"
    r = ask(c, ws, "definition", path="main.py", source=src, line=2, column=7)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [{"path": "util.py", "line": 1, "column": 4}]

    src = "from pkg.tools import Gadget\nGadget()\n"
    r = ask(c, ws, "definition", path="main.py", source=src, line=2, column=2)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [{"path": "pkg/tools.py", "line": 3, "column": 6}]

    # A change to util.py reaches the worker: the new name completes, the old one is gone.
    put(c, ws, "util.py", "def renamed_helper():\n    pass\n")
    assert public(complete(c, ws, "import util\nutil.")) == ["renamed_helper"]
    # A deleted file no longer resolves.
    assert c.delete(f"/api/workspaces/{ws['id']}/files/util.py").status_code == 204
    assert public(complete(c, ws, "import util\nutil.")) == []


def test_library_definition_is_read_only_text(lang_user):
    c, ws = lang_user
    r = ask(c, ws, "definition", path="main.py", source="import json\njson.dumps", line=2,
            column=7)
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert item["path"] is None and item["module"] == "json"
    assert "def dumps(" in item["text"].split("\n")[item["line"] - 1]


def test_undefined_name_diagnostic_at_its_column(lang_user):
    c, ws = lang_user
    src = "import os\n\ndef f():\n    return valeu + 1\n"
    r = ask(c, ws, "diagnostics", path="main.py", source=src)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    undefined = [i for i in items if i["code"] == "UndefinedName"]
    assert undefined == [{"line": 4, "column": 11, "end_line": 4, "end_column": 16,
                          "severity": "error", "message": "undefined name 'valeu'",
                          "code": "UndefinedName"}]
    unused = [i for i in items if i["code"] == "UnusedImport"]
    assert len(unused) == 1 and unused[0]["severity"] == "warning" and unused[0]["line"] == 1
    # Columns count code points, not UTF-8 bytes.
    r = ask(c, ws, "diagnostics", path="main.py", source="s = 'é€'; print(s, nope)\n")
    (item,) = r.json()["items"]
    assert (item["column"], item["end_column"]) == (19, 23)


def test_syntax_error_is_a_diagnostic(lang_user):
    c, ws = lang_user
    r = ask(c, ws, "diagnostics", path="main.py", source="x = 1\ndef f(:\n    pass\n")
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert item["code"] == "SyntaxError" and item["severity"] == "error" and item["line"] == 2


def test_format_is_black_and_idempotent(lang_user):
    c, ws = lang_user
    src = "x=1\ndef f( a ,b ):\n  return {'a':a,'b':b}\n"
    r = ask(c, ws, "format", path="main.py", source=src)
    assert r.status_code == 200, r.text
    once = r.json()["source"]
    assert once == 'x = 1\n\n\ndef f(a, b):\n    return {"a": a, "b": b}\n'
    r = ask(c, ws, "format", path="main.py", source=once)
    assert r.json()["source"] == once
    r = ask(c, ws, "format", path="main.py", source="def f(:\n")
    assert r.status_code == 422 and error_code(r) == "syntax_error"


def test_bad_requests(lang_user, server):
    c, ws = lang_user
    url = f"/api/workspaces/{ws['id']}/complete"
    r = c.post(url, json={"path": "main.py", "source": "x", "line": 0, "column": 0})
    assert r.status_code == 400 and error_code(r) == "bad_position"
    r = c.post(url, json={"path": "main.py", "source": "x", "line": 1, "column": "0"})
    assert r.status_code == 400 and error_code(r) == "bad_position"
    # Past the end of the source: the worker says so, the API maps it.
    r = c.post(url, json={"path": "main.py", "source": "x", "line": 9, "column": 0})
    assert r.status_code == 400 and error_code(r) == "bad_position"
    r = c.post(url, json={"path": "../etc/passwd", "source": "x", "line": 1, "column": 0})
    assert r.status_code == 400 and error_code(r) == "invalid_path"
    r = c.post(url, json={"path": "main.py", "source": 3, "line": 1, "column": 0})
    assert r.status_code == 400 and error_code(r) == "bad_request"
    r = c.post(url, data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    # Sources are bounded by --lang-max-source (512K by default).
    big = "x = 1\n" * (600 * 1024 // 6)
    r = c.post(f"/api/workspaces/{ws['id']}/diagnostics", json={"path": "main.py", "source": big})
    assert r.status_code == 413 and error_code(r) == "too_large"
    r = c.post(f"/api/workspaces/{ws['id']}/definitions", json={})
    assert r.status_code == 404


def test_other_users_workspace_is_404(lang_user, server):
    c, ws = lang_user
    other = Client(server)
    r = ask(other, ws, "complete", path="main.py", source="import os\nos.", line=2, column=3)
    assert r.status_code == 404 and error_code(r) == "not_found"
    anon = Client(server, register=False)
    r = ask(anon, ws, "diagnostics", path="main.py", source="x")
    assert r.status_code == 401


def test_string_paths_complete_in_the_sandbox_not_on_the_host(lang_user):
    """jedi completes file names inside string literals: it must list the sandbox's /etc
    (generated, no secrets), never the host's."""
    c, ws = lang_user
    assert os.path.exists("/etc/shadow")
    labels = [i["label"] for i in complete(c, ws, "open('/etc/")]
    assert "passwd'" in labels or "passwd" in [l.rstrip("'") for l in labels]
    assert not any(l.startswith("shadow") for l in labels)
    labels = [i["label"] for i in complete(c, ws, "open('/home/")]
    assert [l.rstrip("/'") for l in labels] == ["user"]


def test_hostile_workspace_files_do_not_run(lang_user):
    """Analysis never executes the user's modules: an import that loops forever or tries
    to reach the host still completes at once."""
    c, ws = lang_user
    put(c, ws, "evil.py", "import os\nos.system('touch /tmp/pyroom-lang-pwned')\n"
                          "while True:\n    pass\n\ndef payload():\n    pass\n")
    items = complete(c, ws, "import evil\nevil.pay")
    assert [i["label"] for i in items] == ["payload"]
    assert not os.path.exists("/tmp/pyroom-lang-pwned")


def test_deep_nesting_and_huge_lines_end_within_limits(lang_user):
    c, ws = lang_user
    deep = "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n"
    r = ask(c, ws, "diagnostics", path="main.py", source=deep)
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["code"] == "SyntaxError"
    line, col = end_of(deep + "x.")
    r = ask(c, ws, "complete", path="main.py", source=deep + "x.", line=line, column=col)
    assert r.status_code in (200, 422), r.text
    # The worker is still there and still fast to answer.
    assert "linspace" in [i["label"] for i in complete(c, ws, "import numpy as np\nnp.lin")]


def test_a_hung_worker_is_killed_and_others_go_on(tmp_path):
    """A request past its time is stopped (504: the worker stops the analysis a little
    before the server would kill the sandbox); another user's worker is not affected, and
    the first user's next request is answered."""
    srv = Server(extra=["--lang-timeout-ms", "1500", "--lang-preload", ""]).start()
    try:
        a, b = Client(srv), Client(srv)
        wa, wb = a.workspace("a"), b.workspace("b")
        # Warm both workers up (a worker warming up gets --lang-start-ms instead).
        for _ in range(2):
            assert complete(a, wa, "import os\nos.pat")
            assert complete(b, wb, "import os\nos.pat")
        # Inference that jedi cannot finish quickly: every branch doubles what x may be.
        slow = "x = 1\n" + "".join(f"if c{i}:\n    x = [x]\nelse:\n    x = (x,)\n"
                                   for i in range(80)) + "x."
        line, col = end_of(slow)
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            hung = ex.submit(ask, a, wa, "complete", path="main.py", source=slow, line=line,
                             column=col)
            other = complete(b, wb, "import os\nos.pat")
            assert "path" in [i["label"] for i in other]
            r = hung.result()
        assert r.status_code == 504 and error_code(r) == "analysis_timeout"
        assert complete(a, wa, "import os\nos.pat")
        stats = a.get("/api/admin/stats")  # a is this server's first account: the admin
        assert stats.status_code == 200, stats.text
        lang = stats.json()["lang"]
        assert lang["enabled"] and lang["workers"] == 2 and lang["started"] >= 2
        assert lang["requests"] >= 6
    finally:
        srv.stop()


def test_rate_limit_and_off_switch():
    srv = Server(extra=["--lang-per-minute", "2", "--lang-preload", ""]).start()
    try:
        c = Client(srv)
        ws = c.workspace("w")
        for _ in range(2):
            assert ask(c, ws, "diagnostics", path="main.py", source="x = 1\n").status_code == 200
        r = ask(c, ws, "diagnostics", path="main.py", source="x = 1\n")
        assert r.status_code == 429 and error_code(r) == "rate_limited"
        assert int(r.headers["Retry-After"]) >= 1
        # The budget is the user's: another user is not limited by it.
        d = Client(srv)
        wd = d.workspace("w")
        assert ask(d, wd, "diagnostics", path="main.py", source="x = 1\n").status_code == 200
    finally:
        srv.stop()
    srv = Server(extra=["--lang", "false"]).start()
    try:
        c = Client(srv)
        ws = c.workspace("w")
        r = ask(c, ws, "complete", path="main.py", source="x", line=1, column=1)
        assert r.status_code == 503 and error_code(r) == "unavailable"
    finally:
        srv.stop()


def test_a_frozen_worker_is_killed_by_the_server():
    """A worker that cannot even stop itself (here: SIGSTOP) is killed when the request's
    time is up (504); the next request gets a fresh worker."""
    import signal

    srv = Server(extra=["--lang-timeout-ms", "1500", "--lang-preload", ""]).start()
    try:
        c = Client(srv)
        ws = c.workspace("w")
        for _ in range(2):  # warm: the second answer says it is no longer warming up
            assert ask(c, ws, "diagnostics", path="main.py", source="x\n").status_code == 200
        (pid,) = lang_worker_pids(srv)
        os.kill(pid, signal.SIGSTOP)
        r = ask(c, ws, "diagnostics", path="main.py", source="x\n")
        assert r.status_code == 504 and error_code(r) == "analysis_timeout"
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{pid}"), "the frozen worker is still there"
        r = ask(c, ws, "diagnostics", path="main.py", source="x\n")
        assert r.status_code == 200, r.text
        assert lang_worker_pids(srv) != [pid]
        assert c.get("/api/admin/stats").json()["lang"]["timeouts"] == 1
    finally:
        srv.stop()


# Inference that jedi cannot finish quickly: every branch doubles what x may be.
SLOW = "x = 1\n" + "".join(f"if c{i}:\n    x = [x]\nelse:\n    x = (x,)\n"
                           for i in range(80)) + "x."


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def raw_ask(c, ws, op, timeout=120, **body):
    """ask() on its own connection (a requests.Session is not for several threads)."""
    import requests

    return requests.post(f"{c.server.url}/api/workspaces/{ws['id']}/{op}", json=body,
                         cookies=c.s.cookies, headers={"X-CSRF-Token": c.csrf}, timeout=timeout)


def slow_end(r):
    """How a SLOW request ended. jedi caps its own inference: SLOW takes it 5-8 s on a
    quiet machine and passes the tests' 12 s limit under heavy load, so it is either
    answered or stopped at its time (the timeout itself is tested above with sources that
    never end). What these tests check is that nothing else waits for it."""
    if r.status_code == 200:
        assert isinstance(r.json()["items"], list), r.text
        return "answered"
    return (r.status_code, error_code(r))


def busy_worker(srv, c, ws):
    """Warms the user's worker up and returns its pid and CPU ticks so far."""
    for _ in range(2):
        assert complete(c, ws, "import os\nos.pat")
    (pid,) = lang_worker_pids(srv)
    return pid, cpu_ticks(pid)


def wait_analysing(pid, before):
    """Waits until the worker has spent a tenth of a second on CPU since `before`: the
    slow request reached it and is being analysed."""
    deadline = time.monotonic() + 60
    while cpu_ticks(pid) < before + 10:
        assert time.monotonic() < deadline, "the slow request never reached the worker"
        time.sleep(0.05)


def test_slow_requests_hold_no_http_worker():
    """With the HTTP worker pool at its minimum (one thread), more slow language requests
    than HTTP workers in flight do not hold up /api/health or a file GET: a language
    request is deferred and answered from the analysers' own thread."""
    import requests

    srv = Server(extra=["--http-workers", "1", "--lang-timeout-ms", "12000",
                        "--lang-preload", ""]).start()
    try:
        c = Client(srv)
        ws = c.workspace("w")
        put(c, ws, "data.txt", "hello")
        pid, before = busy_worker(srv, c, ws)
        line, col = end_of(SLOW)
        with concurrent.futures.ThreadPoolExecutor(3) as ex:
            slow = [ex.submit(raw_ask, c, ws, "complete", path=f"m{i}.py", source=SLOW,
                              line=line, column=col) for i in range(3)]
            wait_analysing(pid, before)
            health = requests.get(srv.url + "/api/health", timeout=120)
            got = c.get(f"/api/workspaces/{ws['id']}/files/data.txt")
            ended = [f.done() for f in slow]
            results = [f.result() for f in slow]
        assert health.status_code == 200 and got.status_code == 200 and got.content == b"hello"
        assert not any(ended), "a slow language request ended before health was answered"
        # One at a time per user: each is answered or stopped at its time, or waited longer
        # than a request's time for the worker and was refused.
        ends = [slow_end(r) for r in results]
        assert set(ends) <= {"answered", (504, "analysis_timeout"), (429, "rate_limited")}, ends
    finally:
        srv.stop()


def wait_queued(admin, n):
    deadline = time.monotonic() + 60
    while admin.get("/api/admin/stats").json()["lang"]["queued"] != n:
        assert time.monotonic() < deadline, f"never {n} language requests waiting"
        time.sleep(0.02)


def test_newer_request_replaces_a_waiting_one_and_the_queue_is_bounded():
    """While a worker is busy, a newer request about the same file replaces the waiting
    one (409 superseded: typing does not queue stale analyses); past --lang-queue waiting
    requests a request is refused at once (429); the waiting ones are answered after."""
    # (times generous enough for a machine under heavy load: the waiting requests must not
    # pass their time while the slow one runs)
    srv = Server(extra=["--lang-timeout-ms", "12000", "--lang-queue", "2",
                        "--lang-preload", ""]).start()
    try:
        c = Client(srv)  # the first account: an admin, for /api/admin/stats
        ws = c.workspace("w")
        pid, before = busy_worker(srv, c, ws)
        line, col = end_of(SLOW)

        def hover(path, src):
            return raw_ask(c, ws, "hover", path=path, source=src, line=1, column=0)

        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            slow = ex.submit(raw_ask, c, ws, "complete", path="a.py", source=SLOW, line=line,
                             column=col)
            wait_analysing(pid, before)
            old = ex.submit(hover, "b.py", "len\n")
            wait_queued(c, 1)
            new = ex.submit(hover, "b.py", "print\n")
            r = old.result()
            assert r.status_code == 409 and error_code(r) == "superseded", r.text
            other = ex.submit(hover, "c.py", "sorted\n")
            wait_queued(c, 2)
            r = hover("d.py", "abs\n")
            assert r.status_code == 429 and error_code(r) == "rate_limited", r.text
            assert not slow.done() and not new.done() and not other.done()
            r = new.result()
            assert r.status_code == 200 and "print" in r.json()["markdown"], r.text
            r = other.result()
            assert r.status_code == 200 and "sorted" in r.json()["markdown"], r.text
            r = slow.result()
            assert slow_end(r) in ("answered", (504, "analysis_timeout")), r.text
        assert c.get("/api/admin/stats").json()["lang"]["queued"] == 0
    finally:
        srv.stop()


def test_diagnostics_do_not_wait_behind_a_completion():
    """Diagnostics are answered by the owner's light worker (pyflakes only), so they are
    not queued behind a slow completion of the same user."""
    srv = Server(extra=["--lang-timeout-ms", "12000", "--lang-preload", ""]).start()
    try:
        c = Client(srv)
        ws = c.workspace("w")
        pid, before = busy_worker(srv, c, ws)
        # the light worker started too (its start is not what is measured here)
        assert ask(c, ws, "diagnostics", path="b.py", source="x = 1\n").status_code == 200
        before = cpu_ticks(pid)
        line, col = end_of(SLOW)
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            slow = ex.submit(raw_ask, c, ws, "complete", path="a.py", source=SLOW, line=line,
                             column=col)
            wait_analysing(pid, before)
            r = ask(c, ws, "diagnostics", path="b.py", source="import os\nq\n")
            ended = slow.done()
            assert r.status_code == 200, r.text
            assert [i["code"] for i in r.json()["items"]] == ["UnusedImport", "UndefinedName"]
            assert not ended, "the diagnostics waited for the slow completion"
            r = slow.result()
            assert slow_end(r) in ("answered", (504, "analysis_timeout")), r.text
        assert len(lang_worker_pids(srv)) == 2  # the full worker and the light one
    finally:
        srv.stop()


def test_client_gone_and_shutdown_with_requests_in_flight():
    """A client that hangs up while its request waits for the worker costs nothing: the
    worker answers the next request. A server stopped with language requests in flight
    answers them 503 and exits cleanly (under `make asan`: no leak, no use after free)."""
    import socket

    srv = Server(extra=["--lang-timeout-ms", "12000", "--lang-preload", ""]).start()
    try:
        c = Client(srv)
        ws = c.workspace("w")
        pid, before = busy_worker(srv, c, ws)
        line, col = end_of(SLOW)
        import json as _json
        body = _json.dumps({"path": "a.py", "source": SLOW, "line": line,
                            "column": col}).encode()
        cookie = "; ".join(f"{k}={v}" for k, v in c.s.cookies.items())
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(f"POST /api/workspaces/{ws['id']}/complete HTTP/1.1\r\nHost: x\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                  f"Cookie: {cookie}\r\nX-CSRF-Token: {c.csrf}\r\n\r\n".encode() + body)
        wait_analysing(pid, before)
        s.close()  # gone while the worker analyses
        assert complete(c, ws, "import os\nos.pat")  # after the slow one passed its time
        pid, before = busy_worker(srv, c, ws)
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            futs = [ex.submit(raw_ask, c, ws, "complete", path=p, source=SLOW, line=line,
                              column=col) for p in ("x.py", "y.py")]
            wait_analysing(pid, before)
            wait_queued(c, 1)
            assert srv.stop() == 0
            for f in futs:
                r = f.result()
                assert r.status_code == 503 and error_code(r) == "unavailable", r.text
        log = open(srv.log_path).read()
        assert "Sanitizer" not in log, log[-3000:]
    finally:
        srv.stop()


def flakes(src):
    """What pyflakes says of src parsed whole: (line, column, code), or the syntax error."""
    import ast

    import pyflakes.checker

    try:
        tree = ast.parse(src)
    except SyntaxError as e:
        return [(e.lineno, "SyntaxError")]
    return sorted((m.lineno, m.col, type(m).__name__)
                  for m in pyflakes.checker.Checker(tree, filename="main.py").messages)


def test_diagnostics_follow_edits_exactly(lang_user):
    """The worker parses again only the part of a file that changed since its last request
    (lang_worker.py's Trees): after every edit, including ones that open a bracket or a
    string, continue a statement or share a line, the findings are those of a whole parse."""
    c, ws = lang_user
    lines = ["import os", "import sys", "", "def f(a):", "    return a + os.sep", "",
             "x = 1; y = 2", "if x:", "    pass", "", "@staticmethod", "def g():",
             "    return undefined_one", "", "s = '''a", "b'''", "print(f(x), g(), s)"]
    edits = [(7, "insert", "w = x + y"), (5, "insert", "z = ("), (6, "insert", ")"),
             (6, "delete", None),
             (5, "delete", None), (9, "insert", "else:"), (10, "insert", "    y = sys"),
             (7, "append", "; w = q"), (14, "append", " +"), (14, "append", " 1"),
             (15, "insert", "'''"), (15, "delete", None), (0, "insert", "import json"),
             (3, "append", "  # comment"), (12, "insert", "@property"),
             (len(lines) + 3, "insert", "t = undefined_two"), (4, "append", ":"),
             (4, "delete", None), (8, "append", " \\"), (8, "delete", None)]
    for k, how, text in [(0, "start", None)] + edits:
        k = min(k, len(lines))
        if how == "start":
            pass
        elif how == "insert":
            lines.insert(k, text)
        elif how == "append":
            lines[min(k, len(lines) - 1)] += text
        else:
            del lines[min(k, len(lines) - 1)]
        src = "\n".join(lines)
        r = ask(c, ws, "diagnostics", path="edits.py", source=src)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        if items and items[0]["code"] == "SyntaxError":
            got = [(items[0]["line"], "SyntaxError")]
        else:
            got = sorted((i["line"], i["column"], i["code"]) for i in items)
        assert got == flakes(src), (how, text, src)


def test_completion_follows_edits_of_the_file(lang_user):
    """The worker keeps jedi's inference state between requests about the same file
    (lang_worker.py's States): what it knows of the libraries is reused, never what it
    inferred about the file being edited, whose every version is analysed afresh."""
    c, ws = lang_user
    put(c, ws, "shapes.py", "class Box:\n    width = 1\n")
    steps = [("x = 1\nx.bit_", ["bit_length"]),
             ("x = 'a'\nx.bit_", []),
             ("x = 'a'\nx.upp", ["upper"]),
             ("import numpy as np\nx = np\nx.linsp", ["linspace"]),
             ("import numpy as np\nx = 'a'\nx.linsp", []),
             ("from shapes import Box\nBox.wid", ["width"]),
             ("from shapes import Box as x\nx.upp", [])]
    for src, want in steps * 2:
        assert [i["label"] for i in complete(c, ws, src, path="edited.py")] == want, src
    # Another file of the workspace changed: the next request sees it.
    put(c, ws, "shapes.py", "class Box:\n    height = 1\n")
    labels = public(complete(c, ws, "from shapes import Box\nBox.", path="edited.py"))
    assert "height" in labels and "width" not in labels, labels


def send_raw(srv, c, ws, op, **body):
    """Sends a language request on a socket of its own and returns the socket (unread)."""
    import json as _json
    import socket

    data = _json.dumps(body).encode()
    cookie = "; ".join(f"{k}={v}" for k, v in c.s.cookies.items())
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(f"POST /api/workspaces/{ws['id']}/{op} HTTP/1.1\r\nHost: x\r\n"
              f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
              f"Cookie: {cookie}\r\nX-CSRF-Token: {c.csrf}\r\n\r\n".encode() + data)
    return s


def wait_stat(c, key, n):
    deadline = time.monotonic() + 60
    while c.get("/api/admin/stats").json()["lang"].get(key) != n:
        assert time.monotonic() < deadline, f"lang {key} never reached {n}"
        time.sleep(0.05)


def test_a_departed_clients_analysis_is_dropped_or_stopped():
    """When the client of a language request hangs up, its waiting call is dropped and its
    running analysis is stopped (the worker is told to, and stays: same process), so the
    owner's next request does not wait for work nobody will read. The request time is far
    longer than the test's deadlines: before, the next request waited for both slow ones."""
    srv = Server(extra=["--lang-timeout-ms", "600000", "--lang-preload", ""]).start()
    try:
        c = Client(srv)  # the first account: an admin, for /api/admin/stats
        ws = c.workspace("w")
        pid, before = busy_worker(srv, c, ws)
        line, col = end_of(SLOW)
        running = send_raw(srv, c, ws, "complete", path="a.py", source=SLOW, line=line,
                           column=col)
        wait_analysing(pid, before)
        waiting = send_raw(srv, c, ws, "complete", path="b.py", source=SLOW, line=line,
                           column=col)
        wait_queued(c, 1)
        waiting.close()
        wait_stat(c, "abandoned", 1)  # dropped from the queue
        assert c.get("/api/admin/stats").json()["lang"]["queued"] == 0
        running.close()
        wait_stat(c, "abandoned", 2)  # the worker stopped the analysis
        r = raw_ask(c, ws, "complete", timeout=60, path="main.py", source="import os\nos.pat",
                    line=2, column=6)
        assert r.status_code == 200 and "path" in [i["label"] for i in r.json()["items"]]
        assert lang_worker_pids(srv) == [pid]  # told to stop, not killed
        lang = c.get("/api/admin/stats").json()["lang"]
        assert lang["timeouts"] == 0 and lang["failures"] == 0, lang
    finally:
        srv.stop()


def test_a_worker_that_does_not_stop_for_a_departed_client_is_replaced():
    """A worker that cannot stop an abandoned analysis (here: SIGSTOP) is ended after a
    short grace; the owner's next request gets a fresh worker, and another user's worker
    answers throughout."""
    import signal

    srv = Server(extra=["--lang-timeout-ms", "600000", "--lang-preload", ""]).start()
    try:
        c, d = Client(srv), Client(srv)
        ws, wd = c.workspace("w"), d.workspace("w")
        pid, before = busy_worker(srv, c, ws)
        assert complete(d, wd, "import os\nos.pat")
        line, col = end_of(SLOW)
        running = send_raw(srv, c, ws, "complete", path="a.py", source=SLOW, line=line,
                           column=col)
        wait_analysing(pid, before)
        os.kill(pid, signal.SIGSTOP)
        running.close()
        deadline = time.monotonic() + 60
        while os.path.exists(f"/proc/{pid}"):
            assert time.monotonic() < deadline, "the stopped worker was never ended"
            time.sleep(0.05)
        assert complete(d, wd, "import os\nos.pat")
        assert complete(c, ws, "import os\nos.pat")
        assert pid not in lang_worker_pids(srv)
        lang = c.get("/api/admin/stats").json()["lang"]
        assert lang["abandoned"] == 1 and lang["timeouts"] == 0, lang
    finally:
        srv.stop()


if DB_KIND == "postgres":  # (SQLite's readers never wait for a lock: no slow query to make)

    def test_a_slow_store_query_holds_up_no_other_analysis():
        """The store is read for a worker's files on a sync thread, not on the lang loop:
        while one user's completion waits for a locked table (a slow query), another
        user's diagnostics are answered; the completion follows once the lock goes."""
        import subprocess

        srv = Server(extra=["--lang-timeout-ms", "120000", "--lang-start-ms", "120000",
                            "--lang-preload", ""]).start()
        lock = None
        try:
            a, b = Client(srv), Client(srv)
            wa, wb = a.workspace("a"), b.workspace("b")
            for _ in range(2):
                assert complete(a, wa, "import os\nos.pat")
                assert ask(b, wb, "diagnostics", path="m.py", source="x\n").status_code == 200
            lock = subprocess.Popen(["psql", srv.database, "-qAt", "-v", "ON_ERROR_STOP=1"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            lock.stdin.write("BEGIN;\nLOCK TABLE files IN ACCESS EXCLUSIVE MODE;\n"
                             "SELECT 'locked';\n")
            lock.stdin.flush()
            assert lock.stdout.readline().strip() == "locked"
            with concurrent.futures.ThreadPoolExecutor(1) as ex:
                slow = ex.submit(raw_ask, a, wa, "complete", path="m.py",
                                 source="import os\nos.pat", line=2, column=6)
                deadline = time.monotonic() + 60
                while True:  # until the sync's query waits for the lock
                    q = subprocess.run(["psql", srv.database, "-qAt", "-c",
                                        "SELECT count(*) FROM pg_locks WHERE NOT granted"],
                                       capture_output=True, text=True, check=True)
                    if int(q.stdout) > 0:
                        break
                    assert time.monotonic() < deadline, "the completion never waited"
                    time.sleep(0.05)
                r = raw_ask(b, wb, "diagnostics", timeout=60, path="m.py", source="import os\n")
                assert r.status_code == 200, r.text
                assert [i["code"] for i in r.json()["items"]] == ["UnusedImport"]
                assert not slow.done()
                lock.stdin.write("COMMIT;\n")
                lock.stdin.close()
                lock.wait(30)
                r = slow.result()
                assert r.status_code == 200 and "path" in [i["label"] for i in r.json()["items"]]
        finally:
            if lock and lock.poll() is None:
                lock.kill()
                lock.wait()
            srv.stop()
