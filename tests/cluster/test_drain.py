"""Draining a node: SIGTERM (or `pyroom drain`, the Kubernetes preStop hook) makes a node
hand new runs and terminals to its peers, warn its terminal users, let its running runs
finish within --drain-grace, then exit.

Every wait is a condition polled until a deadline, never a sleep.
"""
import os
import signal
import sqlite3
import subprocess
import tempfile

import requests

from clusterlib import Client, Cluster, Events, Server, Term, error_code, on, wait_for
from conftest import BIN
from test_cluster import node_id, node_of, put, read_events, start_run

DEADLINE = 30
WAITS_FOR_INPUT = "print('started', flush=True)\nprint('got', input())\n"


def ready(server):
    return requests.get(server.url + "/api/ready", timeout=10).status_code


def lease_node(cl, ws_id):
    return cl.psql(f"SELECT node FROM leases WHERE workspace_id = {int(ws_id)}")


def test_a_draining_node_hands_new_work_to_peers_and_finishes_its_runs():
    cl = Cluster(3, extra=["--drain-grace", "60"]).start()
    a, b, _ = cl.nodes
    ua = Client(a)
    ub = on(ua, b)
    terms = []
    try:
        node_a = node_id(cl, a)
        w1, w2, w3, w4 = (ua.workspace(f"drain-{i}") for i in range(4))
        put(ua, w1, "keep.txt", "kept\n")
        t = Term(ua, w1["id"])
        terms.append(t)
        t.run("true")
        assert lease_node(cl, w1["id"]) == node_a
        ev = Events(ub, w1["id"])  # a subscriber on another node
        run = start_run(ua, w2, WAITS_FOR_INPUT, interactive=True)
        assert node_of(cl, run["id"]) == node_a
        read_events(ua, run["id"], stdout="started")

        a.proc.send_signal(signal.SIGTERM)

        # Its terminal users are told, in the terminal and on every node's event stream.
        t.expect(b"this server is restarting; your terminal will move")
        assert "terminal will move" in ev.expect("server_restarting", "")["message"]
        # Load balancers stop sending it requests...
        wait_for(lambda: ready(a) == 503, timeout=DEADLINE)
        # ...and what still reaches it goes to the others: a new run...
        put(ua, w3, "main.py", "print('elsewhere')\n")
        r = ua.post(f"/api/workspaces/{w3['id']}/runs?wait=1", json={})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ok" and r.json()["stdout"] == "elsewhere\n"
        assert node_of(cl, r.json()["id"]) not in ("", node_a)
        # ...and a new environment.
        t4 = Term(ua, w4["id"])
        terms.append(t4)
        assert b"ok-4" in t4.run("echo ok-$((2+2))")
        assert lease_node(cl, w4["id"]) not in ("", node_a)

        # The run it has goes on (it waits for input): the node waits for it.
        assert a.proc.poll() is None
        assert ub.post(f"/api/runs/{run['id']}/stdin", data=b"hello\n").status_code == 204
        result = read_events(ub, run["id"])[-1]
        assert result[0] == "result" and result[1]["status"] == "ok", result
        assert "got hello" in result[1]["stdout"]
        # Then it exits by itself, cleanly.
        assert a.proc.wait(DEADLINE) == 0
        # The terminal moves: through another node the workspace opens a fresh shell with
        # its files.
        assert t.wait_closed()
        t2 = Term(ub, w1["id"])
        terms.append(t2)
        assert b"kept" in t2.run("cat keep.txt")
        assert lease_node(cl, w1["id"]) not in ("", node_a)
        ev.close()
    finally:
        for x in terms:
            x.close()
        assert cl.stop()[1:] == [0, 0]


def test_pyroom_drain_stops_a_lone_node_after_its_grace():
    tmp = tempfile.mkdtemp(prefix="pyroom-drain-")
    srv = Server(database="sqlite:" + os.path.join(tmp, "pyroom.db"),
                 extra=["--drain-grace", "2"]).start()
    data = os.path.join(srv.tmp, "data")
    u = Client(srv)
    w = u.workspace("lone")
    run = start_run(u, w, WAITS_FOR_INPUT, interactive=True)
    read_events(u, run["id"], stdout="started")
    drain = subprocess.Popen([BIN, "drain", "--data-dir", data], stdout=subprocess.PIPE,
                             text=True)
    try:
        wait_for(lambda: ready(srv) == 503, timeout=DEADLINE)
        # No peer to take a new run: refused, to be retried (by then elsewhere).
        r = u.post(f"/api/workspaces/{w['id']}/runs", json={})
        assert r.status_code == 503 and error_code(r) == "unavailable"
        assert int(r.headers["Retry-After"]) >= 1
        out, _ = drain.communicate(timeout=90)
    finally:
        if drain.poll() is None:
            drain.kill()
    assert drain.returncode == 0, out
    assert "the server has stopped" in out
    # The run outlived the grace: the node stopped it, and its record says so.
    assert srv.proc.wait(DEADLINE) == 0
    db = sqlite3.connect(os.path.join(tmp, "pyroom.db"))
    status, = db.execute("SELECT status FROM runs WHERE id = ?", (run["id"],)).fetchone()
    db.close()
    assert status == "cancelled"
    # Nothing left to drain: says so and succeeds.
    again = subprocess.run([BIN, "drain", "--data-dir", data], capture_output=True, text=True,
                           timeout=30)
    assert again.returncode == 0 and "no server is running" in again.stdout
