"""Several pyroom nodes on one PostgreSQL, directly and behind Debian's nginx running
deploy/nginx.conf (with its workspace hash and as plain round-robin): what a user sees
must not depend on which node a request lands on.

Every wait is a condition polled until a deadline, never a sleep.
"""
import json
import threading
import time

import pytest
import requests
import websocket

from clusterlib import (NODE_TIMEOUT, Client, Cluster, Events, Term, error_code, on,
                        wait_for)

DEADLINE = 20


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(3).start()
    yield c
    assert c.stop() == [0, 0, 0]


@pytest.fixture
def users(cluster):
    """One user, logged in on node A, with a view of each node."""
    a, b, c = cluster.nodes
    ua = Client(a)
    return ua, on(ua, b), on(ua, c)


def put(c, w, path, text, **kw):
    r = c.put(f"/api/workspaces/{w['id']}/files/{path}", data=text.encode(), **kw)
    assert r.status_code in (200, 201), r.text
    return r.json()


def start_run(c, w, code, **body):
    put(c, w, body.get("entry", "main.py"), code)
    r = c.post(f"/api/workspaces/{w['id']}/runs", json=body)
    assert r.status_code == 202, r.text
    return r.json()


def read_events(c, run_id, until="result", stdout=None):
    """A run's events until one named until (or, with stdout, until the output so far
    contains it: output may come in several events)."""
    out = []
    text = ""
    with c.s.get(c.server.url + f"/api/runs/{run_id}/events", stream=True,
                 timeout=60) as r:
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith(b"event: "):
                event = line[7:].decode()
            elif line.startswith(b"data: "):
                out.append((event, json.loads(line[6:])))
                if event == "stdout":
                    text += out[-1][1]["data"]
                if (stdout is None and event == until) or (stdout and stdout in text) or \
                        event == "result":
                    break
    return out


def node_of(cluster, run_id):
    return cluster.psql(f"SELECT node FROM runs WHERE id = {int(run_id)}")


def node_id(cluster, server):
    return cluster.psql(
        f"SELECT id FROM nodes WHERE advertise = 'http://127.0.0.1:{server.port}'")


# ---- identity ----------------------------------------------------------------------------


def test_each_node_has_its_own_id_and_heartbeat(cluster):
    rows = cluster.psql("SELECT id, advertise, heartbeat_at FROM nodes ORDER BY advertise")
    rows = [r.split("|") for r in rows.splitlines()]
    assert len(rows) == 3
    assert len({r[0] for r in rows}) == 3
    assert sorted(r[1] for r in rows) == sorted(f"http://127.0.0.1:{n.port}"
                                                for n in cluster.nodes)
    before = {r[0]: int(r[2]) for r in rows}
    # Heartbeats move on (every fifth of --node-timeout).
    wait_for(lambda: all(int(cluster.psql(f"SELECT heartbeat_at FROM nodes WHERE id = '{i}'"))
                         > t for i, t in before.items()), timeout=NODE_TIMEOUT * 2, step=0.2)


def test_a_forged_node_token_is_refused(cluster, users):
    ua, ub, _ = users
    w = ua.workspace("forged")
    r = ub.get(f"/api/workspaces/{w['id']}/files",
               headers={"X-Pyroom-Node-Token": "pyrn_" + "A" * 43})
    assert r.status_code == 403 and error_code(r) == "forbidden"


# ---- events ------------------------------------------------------------------------------


def test_a_save_on_one_node_reaches_subscribers_on_every_node(cluster, users):
    ua, ub, uc = users
    w = ua.workspace("events")
    eb, ec = Events(ub, w["id"]), Events(uc, w["id"])
    try:
        etag = put(ua, w, "hello.py", "print('hi')\n")["etag"]
        assert eb.expect("file_changed", "hello.py")["etag"] == etag
        assert ec.expect("file_changed", "hello.py")["etag"] == etag
        assert ua.delete(f"/api/workspaces/{w['id']}/files/hello.py").status_code == 204
        eb.expect("file_deleted", "hello.py")
    finally:
        eb.close()
        ec.close()


def test_logout_on_one_node_ends_streams_on_another(cluster):
    a, b, _ = cluster.nodes
    ua = Client(a)
    w = ua.workspace("revoke")
    eb = Events(on(ua, b), w["id"])
    try:
        assert ua.post("/api/auth/logout").status_code in (200, 204)
        wait_for(lambda: not eb.t.is_alive(), timeout=DEADLINE, step=0.05)
    finally:
        eb.close()


def test_a_notice_made_on_one_node_reaches_the_user_s_stream_on_another(cluster):
    """The review bell's push: the notice is written by node A, the user's own stream
    (GET /api/events) is on node B; the bus carries it."""
    a, b, _ = cluster.nodes
    author, rv = Client(a), Client(a)
    cluster.psql(f"UPDATE users SET role = 'reviewer' WHERE id = {rv.user['id']}")
    author_b = Events(on(author, b), None, path="/api/events")
    rv_b = Events(on(rv, b), None, path="/api/events")
    try:
        w = author.workspace("bell")
        put(author, w, "main.py", "print(1)\n")
        r = author.post(f"/api/workspaces/{w['id']}/submissions", json={"message": "look"})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        rv_b.expect_data("notification", kind="submission", submission_id=sid)
        r = rv.post(f"/api/submissions/{sid}/comments", json={"body": "fine"})
        assert r.status_code == 201, r.text
        author_b.expect_data("notification", kind="comment", submission_id=sid)
    finally:
        author_b.close()
        rv_b.close()


# ---- runs --------------------------------------------------------------------------------


def test_run_events_stdin_and_cancel_through_other_nodes(cluster, users):
    ua, ub, uc = users
    w = ua.workspace("runs")
    r = start_run(ua, w, "name = input()\nprint('got', name, flush=True)\n"
                  "import time\ntime.sleep(60)\n", interactive=True)
    assert node_of(cluster, r["id"]) == node_id(cluster, cluster.nodes[0])
    got = {}

    def follow():
        got["events"] = read_events(ub, r["id"])

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    assert uc.post(f"/api/runs/{r['id']}/stdin", data=b"carol\n").status_code == 204
    # Cancel through C: the run on A really ends.
    c = uc.post(f"/api/runs/{r['id']}/cancel")
    assert c.status_code == 200, c.text
    assert c.json()["status"] == "cancelled"
    t.join(DEADLINE)
    assert not t.is_alive()
    events = got["events"]
    out = "".join(d["data"] for e, d in events if e == "stdout")
    assert "got carol" in out
    result = [d for e, d in events if e == "result"][0]
    assert result["status"] == "cancelled"
    assert ub.post(f"/api/runs/{r['id']}/stdin", data=b"late\n").status_code == 409


def test_run_output_streams_live_through_another_node(cluster, users):
    ua, ub, _ = users
    w = ua.workspace("live")
    r = start_run(ua, w, "print('first', flush=True)\ninput()\nprint('second')\n",
                  interactive=True)
    seen = []
    with ub.s.get(ub.server.url + f"/api/runs/{r['id']}/events", stream=True,
                  timeout=60) as ev:
        event = None
        for line in ev.iter_lines():
            if line.startswith(b"event: "):
                event = line[7:].decode()
            elif line.startswith(b"data: "):
                seen.append((event, json.loads(line[6:])))
                if event == "stdout" and "first" in seen[-1][1]["data"]:
                    # Only now is input given: "first" came while the run was live.
                    assert ub.post(f"/api/runs/{r['id']}/stdin", data=b"\n").status_code == 204
                if event == "result":
                    break
    assert seen[-1][1]["status"] == "ok"
    assert "second" in seen[-1][1]["stdout"]


# ---- terminals ---------------------------------------------------------------------------


def test_a_terminal_opened_through_another_node_reaches_the_same_shell(cluster, users):
    ua, ub, uc = users
    w = ua.workspace("shell")
    ta = Term(ua, w["id"])
    try:
        ta.run("export MARK=m-$((40+2))")
        tb = Term(ub, w["id"])
        tc = Term(uc, w["id"])
        # The scrollback replay holds A's markers: B and C count from elsewhere.
        tb.seq, tc.seq = 200, 300
        assert b"m-42" in tb.run("echo $MARK")
        assert b"m-42" in tc.run("echo $MARK")
        tb.close()
        tc.close()
    finally:
        ta.close()


def test_the_environments_list_shows_every_node_and_ends_any(cluster, users):
    ua, ub, uc = users
    # Each node starts one environment (each Term attaches to the node it was opened on).
    ws = [ua.workspace(f"list-{i}") for i in range(3)]
    terms = [Term(u, w["id"]) for u, w in zip(users, ws)]
    try:
        for t in terms:
            t.run("true")
        want = sorted(w["id"] for w in ws)
        for u in users:
            body = u.get("/api/terminals").json()
            assert sorted(i["workspace_id"] for i in body["items"]) == want, body
            assert "partial" not in body
            by_ws = {i["workspace_id"]: i for i in body["items"]}
            assert by_ws[ws[2]["id"]]["workspace_name"] == "list-2"
            assert by_ws[ws[2]["id"]]["terminals"] == ["1"]
        # Another user sees none of them.
        other = Client(cluster.nodes[1])
        assert other.get("/api/terminals").json()["items"] == []
        # Node A ends the environment that lives on node C.
        r = ua.delete(f"/api/workspaces/{ws[2]['id']}/terminals")
        assert r.status_code == 204, r.text
        wait_for(lambda: sorted(i["workspace_id"] for i in
                                ub.get("/api/terminals").json()["items"]) == want[:2])  # ids grow
        r = ua.delete(f"/api/workspaces/{ws[2]['id']}/terminals")
        assert r.status_code == 404 and error_code(r) == "not_found"
    finally:
        for t in terms:
            t.close()


def threads_of(server):
    with open(f"/proc/{server.proc.pid}/status") as f:
        return int([ln for ln in f if ln.startswith("Threads:")][0].split()[1])


def test_proxied_terminals_cost_no_thread_each(cluster, users):
    """The node that proxies terminal WebSockets to their owner joins them on its one relay
    thread: opening eight through B leaves B's thread count as it was."""
    ua, ub, _ = users
    w = ua.workspace("proxied")
    ta = Term(ua, w["id"])  # the environment lives on A
    proxied = []
    try:
        ta.run("true")
        Term(ub, w["id"]).close()  # the relay's first use, so the count below is settled
        before = threads_of(cluster.nodes[1])
        for i in range(8):
            t = Term(ub, w["id"])
            t.seq = 100 * (i + 1)
            proxied.append(t)
        for t in proxied:
            assert f"p-{t.seq}".encode() in t.run(f"echo p-{t.seq}")
        assert threads_of(cluster.nodes[1]) == before
    finally:
        for t in proxied:
            t.close()
        ta.close()


def test_a_save_on_another_node_reaches_the_terminal(cluster, users):
    ua, ub, _ = users
    w = ua.workspace("sync")
    ta = Term(ua, w["id"])
    try:
        ta.run("true")
        t0 = time.monotonic()
        put(ub, w, "from_b.txt", "written-on-b\n")
        wait_for(lambda: b"written-on-b" in ta.run("cat from_b.txt 2>&1"), timeout=DEADLINE,
                 step=0.05)
        print("save on B seen in A's terminal after %.3f s" % (time.monotonic() - t0))
        # And the terminal's own edit of that file is stored and reaches B's editor.
        eb = Events(ub, w["id"])
        try:
            ta.run("echo edited-in-shell > from_b.txt")
            eb.expect("file_changed", "from_b.txt")
            assert ub.get(f"/api/workspaces/{w['id']}/files/from_b.txt").text == \
                "edited-in-shell\n"
        finally:
            eb.close()
    finally:
        ta.close()


# ---- working together (issue 17) -----------------------------------------------------------


def test_presence_and_co_editing_across_nodes(cluster, users):
    """Three pages on three nodes: presence posted on A reaches B and C; a document started
    on A, updated on B, reaches C's stream inline; an update too large for a bus notice
    reaches A's stream by id and A fetches it from the log through C; a late joiner on C
    reads the whole log."""
    import base64
    from test_collab import Stream
    ua, ub, uc = users
    w = ua.workspace("together")
    put(ua, w, "main.py", "print(1)\n")
    sa, sb, sc = Stream(ua, w["id"], "pa"), Stream(ub, w["id"], "pb"), Stream(uc, w["id"], "pc")
    try:
        sa.expect("presence_joined", lambda d: d["client"] == "pc")  # C's join, seen on A
        assert ua.post(f"/api/workspaces/{w['id']}/presence",
                       json={"client": "pa", "path": "main.py", "line": 2, "column": 1,
                             "scroll": 40}).status_code == 204
        for s in (sb, sc):
            got = s.expect("presence", lambda d: d["client"] == "pa")
            assert (got["path"], got["line"], got["scroll"]) == ("main.py", 2, 40)
        url = f"/api/workspaces/{w['id']}/docs/main.py"
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        r = ua.post(url, json={"client": "pa", "update": b64(b"SNAP"), "snapshot": True})
        assert r.status_code == 201
        doc = r.json()["doc"]  # updates name the document they are meant for
        r = ub.post(url, json={"client": "pb", "update": b64(b"from-b"), "doc": doc})
        assert r.status_code == 201
        got = sc.expect("doc_update", lambda d: d["id"] == r.json()["id"])
        assert base64.b64decode(got["update"]) == b"from-b"
        big = b"L" * 9000  # its base64 does not fit a notice with the event around it
        r = uc.post(url, json={"client": "pc", "update": b64(big), "doc": doc})
        assert r.status_code == 201
        got = sa.expect("doc_update", lambda d: d["id"] == r.json()["id"])
        assert "update" not in got
        after = ua.get(url, params={"after": got["id"] - 1}).json()["items"]
        assert base64.b64decode(after[0]["update"]) == big
        log = uc.get(url).json()["items"]
        assert [base64.b64decode(u["update"]) for u in log] == [b"SNAP", b"from-b", big]
        # a page going away on B leaves on A and C
        assert ub.post(f"/api/workspaces/{w['id']}/presence",
                       json={"client": "pb", "left": True}).status_code == 204
        sa.expect("presence_left", lambda d: d["client"] == "pb")
        sc.expect("presence_left", lambda d: d["client"] == "pb")
    finally:
        for s in (sa, sb, sc):
            s.close()


def test_a_terminal_is_watched_read_only_through_another_node(cluster, users):
    ua, ub, _ = users
    w = ua.workspace("watch")
    ta = Term(ua, w["id"])
    try:
        ta.run("echo shown-$((6*7))")
        vb = Term(ub, w["id"], mode="view")  # relayed to A, which holds the environment
        try:
            vb.expect(rb"shown-42")
            ta.send("echo live-$((7*7))\n")
            vb.expect(rb"live-49")
            vb.send("echo typed-$((8*8))\n")
            assert vb.expect_control("error")["code"] == "read_only"
            assert b"after-81" in ta.run("echo after-$((9*9))")
            vb.expect(rb"after-81")
            assert b"typed-" not in ta.buf and b"typed-" not in vb.buf
        finally:
            vb.close()
    finally:
        ta.close()


# ---- restarts and failures ---------------------------------------------------------------


def test_restarting_a_node_leaves_other_nodes_runs_alone():
    # Two restarts of A may take longer than the default wall-time limit of B's run.
    cl = Cluster(2, extra=["--run-wall-ms", "300000"]).start()
    try:
        a, b = cl.nodes
        ub = Client(b)
        w = ub.workspace("survivor")
        r = start_run(ub, w, "import sys\nline = sys.stdin.readline()\nprint('done', line.strip())\n",
                      interactive=True)
        wait_for(lambda: ub.get(f"/api/runs/{r['id']}").json()["status"] == "running",
                 timeout=DEADLINE, step=0.05)
        a.stop()
        a.start()
        a.kill9()
        a.start()
        assert ub.get(f"/api/runs/{r['id']}").json()["status"] == "running"
        assert ub.post(f"/api/runs/{r['id']}/stdin", data=b"fine\n").status_code == 204
        done = wait_for(lambda: (lambda j: j if j["status"] != "running" else None)(
            ub.get(f"/api/runs/{r['id']}").json()), timeout=DEADLINE, step=0.05)
        assert done["status"] == "ok", done
        assert done["stdout"] == "done fine\n"
    finally:
        assert cl.stop() == [0, 0]


def test_kill9_peers_fail_its_runs_and_take_over_its_terminals():
    cl = Cluster(2, nginx="rr").start()
    try:
        a, b = cl.nodes
        ua = Client(a)
        ub = on(ua, b)
        w = ua.workspace("doomed")
        r = start_run(ua, w, "print('x', flush=True)\nimport time\ntime.sleep(120)\n")
        wait_for(lambda: ua.get(f"/api/runs/{r['id']}").json()["status"] == "running",
                 timeout=DEADLINE, step=0.05)
        ta = Term(ua, w["id"])
        ta.run("export OLD=shell-on-a")
        put(ua, w, "keep.txt", "v0")
        # A writer through nginx with If-Match on every write, across the kill: a write it
        # saw acknowledged is never lost, and it never gets a false 412 (nginx must not
        # send a write to a second node after the first stored it).
        un = on(ua, cl.nginx)
        stop = threading.Event()
        log = {"acked": [], "codes": []}

        def writer():
            etag = put(un, w, "counter.txt", "0")["etag"]
            i = 0
            while not stop.is_set():
                i += 1
                r = un.put(f"/api/workspaces/{w['id']}/files/counter.txt", data=str(i).encode(),
                           headers={"If-Match": f'"{etag}"'})
                log["codes"].append(r.status_code)
                if r.status_code == 200:
                    etag = r.json()["etag"]
                    log["acked"].append(i)
                elif r.status_code == 502:
                    # The node died with the write in flight: it may or may not be stored.
                    # Read what is there (any node) and go on from it, as the page does.
                    g = un.get(f"/api/workspaces/{w['id']}/files/counter.txt")
                    if g.status_code != 200:
                        continue
                    etag = g.headers["ETag"].strip('"')
                    if g.text == str(i):
                        log["acked"].append(i)
                else:
                    return  # anything else ends the writer: the assertions below say what
        wt = threading.Thread(target=writer, daemon=True)
        wt.start()
        wait_for(lambda: len(log["acked"]) >= 5, timeout=DEADLINE, step=0.02)
        t0 = time.monotonic()
        a.kill9()
        ta.close()
        try:
            wait_for(lambda: len(log["codes"]) and log["codes"][-1] == 200 and
                     len(log["acked"]) >= 10, timeout=DEADLINE, step=0.05)
        except AssertionError:
            raise AssertionError(f"the writer stopped: {log['codes'][-20:]}")
        stop.set()
        wt.join(DEADLINE)
        assert 412 not in log["codes"], log["codes"]
        assert set(log["codes"]) <= {200, 502}, log["codes"]
        assert ub.get(f"/api/workspaces/{w['id']}/files/counter.txt").text == \
            str(log["acked"][-1])
        # Peers notice within the node timeout and fail the run...
        failed = wait_for(lambda: (lambda j: j if j["status"] == "failed" else None)(
            ub.get(f"/api/runs/{r['id']}").json()), timeout=30, step=0.1)
        assert "stopped" in failed["reason"]
        # ... and the workspace's terminal opens a fresh shell elsewhere, with the files.
        def attach():
            try:
                return Term(ub, w["id"])
            except websocket.WebSocketBadStatusException:
                return None
        tb = wait_for(attach, timeout=30 - (time.monotonic() - t0), step=0.2)
        out = tb.run("echo old=[$OLD]; cat keep.txt")
        assert b"old=[]" in out and b"v0" in out
        tb.close()
    finally:
        cl.nginx.stop()
        for n in cl.nodes[1:]:
            assert n.stop() == 0


# ---- through nginx -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hash", "rr"])
def test_everything_works_through_nginx(mode):
    cl = Cluster(3, nginx=mode).start()
    try:
        u = Client(cl.nginx)
        w = u.workspace("via-nginx")
        # Terminals: every open lands on the same shell, whichever node nginx picks.
        first = Term(u, w["id"])
        first.run("export SAME=yes-$((1+1))")
        for i in range(6):
            t = Term(u, w["id"])
            t.seq = 100 * (i + 1)
            assert b"yes-2" in t.run("echo $SAME")
            t.close()
        first.close()
        # Runs: events, stdin and cancel, each on whatever node nginx picks.
        r = start_run(u, w, "print(input(), flush=True)\nimport time\ntime.sleep(60)\n",
                      interactive=True)
        assert u.post(f"/api/runs/{r['id']}/stdin", data=b"via-nginx\n").status_code == 204
        got = read_events(u, r["id"], stdout="via-nginx\n")
        assert "".join(d["data"] for e, d in got if e == "stdout") == "via-nginx\n"
        c = u.post(f"/api/runs/{r['id']}/cancel")
        assert c.status_code == 200 and c.json()["status"] == "cancelled"
        # A save through nginx reaches an event stream through nginx.
        ev = Events(u, w["id"])
        try:
            etag = put(u, w, "n.py", "1\n")["etag"]
            assert ev.expect("file_changed", "n.py")["etag"] == etag
        finally:
            ev.close()
    finally:
        assert cl.stop() == [0, 0, 0]


# ---- database outage ---------------------------------------------------------------------


def pg(cmd):
    import os
    import subprocess
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    return subprocess.run([os.path.join(root, "scripts", "pg.sh"), cmd], cwd=root,
                          capture_output=True, text=True)


def test_database_restart_answers_503_then_recovers_and_keeps_terminal_writes():
    import os
    if pg("url").stdout.strip() != os.environ.get("PYROOM_TEST_PG"):
        pytest.skip("PYROOM_TEST_PG is not this checkout's scripts/pg.sh cluster")
    cl = Cluster(2).start()
    down = False
    try:
        a, b = cl.nodes
        ua = Client(a)
        ub = on(ua, b)
        w = ua.workspace("outage")
        t = Term(ua, w["id"])
        t.run("true")
        assert pg("down").returncode == 0
        down = True
        for u in (ua, ub):
            r = u.get(f"/api/workspaces/{w['id']}/files")
            assert r.status_code == 503, r.text
            assert error_code(r) == "unavailable"
            assert int(r.headers["Retry-After"]) > 0
        t.run("echo written-during-outage > outage.txt")
        t.expect(rb"not saved yet")
        assert pg("up").returncode == 0
        down = False
        # Recovery without a restart of any node, and the terminal's write is stored.
        body = wait_for(lambda: (lambda r: r.text if r.status_code == 200 else None)(
            ub.get(f"/api/workspaces/{w['id']}/files/outage.txt")), timeout=30, step=0.2)
        assert body == "written-during-outage\n"
        assert ua.get(f"/api/workspaces/{w['id']}/files").status_code == 200
        t.close()
    finally:
        if down:
            pg("up")
        assert cl.stop() == [0, 0]


# ---- limits hold across nodes ------------------------------------------------------------


@pytest.fixture(scope="module")
def limited():
    c = Cluster(3, extra=["--runs-per-minute", "2", "--login-rate", "3",
                          "--terminal-max-per-user", "1", "--max-runs-per-user", "1",
                          "--lang-per-minute", "2", "--lang-preload", "",
                          "--max-event-streams-per-user", "16",
                          "--http-threads", "1", "--http-workers", "2"]).start()
    yield c
    assert c.stop() == [0, 0, 0]


def each_node(cl):
    u = Client(cl.nodes[0])
    return [u] + [on(u, n) for n in cl.nodes[1:]]


def test_runs_per_minute_hold_across_nodes(limited):
    ua, ub, uc = each_node(limited)
    w = ua.workspace("rpm")
    put(ua, w, "main.py", "print(1)\n")
    codes = [u.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={}).status_code
             for u in (ua, ub, uc)]
    assert codes == [200, 200, 429]


def test_concurrent_runs_per_user_hold_across_nodes(limited):
    ua, ub, _ = each_node(limited)
    w = ua.workspace("conc")
    r = start_run(ua, w, "import time\ntime.sleep(60)\n")
    r2 = ub.post(f"/api/workspaces/{w['id']}/runs", json={})
    assert r2.status_code == 429 and error_code(r2) == "rate_limited"
    assert int(r2.headers["Retry-After"]) >= 1
    assert ub.post(f"/api/runs/{r['id']}/cancel").json()["status"] == "cancelled"


def test_language_requests_per_minute_hold_across_nodes(limited):
    ua, ub, uc = each_node(limited)
    w = ua.workspace("lang")
    body = {"path": "main.py", "source": "x = 1\n"}
    codes = [u.post(f"/api/workspaces/{w['id']}/diagnostics", json=body).status_code
             for u in (ua, ub, uc)]
    assert codes == [200, 200, 429], codes
    r = ua.post(f"/api/workspaces/{w['id']}/diagnostics", json=body)
    assert r.status_code == 429 and error_code(r) == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1


def test_failed_logins_hold_across_nodes(limited):
    ua, ub, uc = each_node(limited)
    bad = {"username": ua.username, "password": "wrong password here"}
    codes = [requests.post(n.url + "/api/auth/login", json=bad, timeout=30).status_code
             for n in limited.nodes]
    assert codes == [401, 401, 401]
    r = requests.post(limited.nodes[0].url + "/api/auth/login", json=bad, timeout=30)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


def test_terminals_per_user_hold_across_nodes(limited):
    ua, ub, _ = each_node(limited)
    w1, w2 = ua.workspace("t1"), ua.workspace("t2")
    t = Term(ua, w1["id"])
    try:
        t.run("true")
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            Term(ub, w2["id"])
        assert e.value.status_code == 429
    finally:
        t.close()


def test_event_streams_per_user_hold_across_nodes(limited):
    users = each_node(limited)
    w = users[0].workspace("streams")
    streams = []
    try:
        for i in range(16):  # --max-event-streams-per-user, spread over the three nodes
            streams.append(Events(users[i % 3], w["id"]))
        for u in users:
            r = u.get(f"/api/workspaces/{w['id']}/events", stream=True)
            assert r.status_code == 429 and error_code(r) == "rate_limited"
            r.close()
        # One closes: another may open (on any node), once its node has noticed the hang-up
        # (the HTTP server polls suspended streams' sockets; the slot is given back then).
        streams.pop().close()
        def reopen():
            r = users[1].get(f"/api/workspaces/{w['id']}/events", stream=True)
            ok = r.status_code == 200
            r.close()
            return ok
        wait_for(reopen, timeout=60, step=0.5)
    finally:
        for s in streams:
            s.close()


def test_forwarded_streams_hold_no_worker_or_loop(limited):
    """Run event streams relayed through another node hold neither an HTTP worker nor the
    event loop: with one loop thread and two workers on each node, four streams of a run on
    A followed through B leave B answering requests that need a worker."""
    ua, ub, _ = each_node(limited)
    w = ua.workspace("relay")
    r = start_run(ua, w, "input()\n", interactive=True)
    assert node_of(limited, r["id"]) == node_id(limited, limited.nodes[0])
    streams = []
    try:
        for _ in range(4):
            ev = ub.s.get(ub.server.url + f"/api/runs/{r['id']}/events", stream=True,
                          timeout=DEADLINE)
            assert ev.status_code == 200
            assert ev.headers["Content-Type"].startswith("text/event-stream")
            streams.append(ev)
        for _ in range(3):
            g = ub.s.get(ub.server.url + f"/api/runs/{r['id']}", timeout=DEADLINE)
            assert g.status_code == 200 and g.json()["status"] == "running"
        assert ub.post(f"/api/runs/{r['id']}/stdin", data=b"\n").status_code == 204
        # Every relayed stream ends with the result.
        for ev in streams:
            event = None
            for line in ev.iter_lines():
                if line.startswith(b"event: "):
                    event = line[7:].decode()
                elif event == "result" and line.startswith(b"data: "):
                    assert json.loads(line[6:])["status"] == "ok"
                    break
            assert event == "result"
    finally:
        for ev in streams:
            ev.close()
