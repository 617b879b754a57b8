"""Live environments: the list the page shows at the terminal limit, and ending a terminal
or a whole environment to free a slot (src/api/environments.c). Black-box, real sandboxes.
"""
import pytest
import websocket

from conftest import Client, Server, error_code
from test_terminals import Term, wait_for


def test_list_end_terminal_and_environment_free_the_slot():
    srv = Server(extra=["--terminal-max-per-user", "2"]).start()
    terms = []
    try:
        c = Client(srv)
        other = Client(srv)
        w = [c.workspace(f"env{i}") for i in range(3)]
        a1 = Term(c, w[0]["id"], name="1")
        a2 = Term(c, w[0]["id"], name="2")
        b = Term(c, w[1]["id"])
        terms += [a1, a2, b]
        for t in terms:
            t.run("true")
        # The third environment is refused; the list says which two are live.
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            Term(c, w[2]["id"])
        assert e.value.status_code == 429
        r = c.get("/api/terminals")
        assert r.status_code == 200
        body = r.json()
        assert body["max_per_user"] == 2
        live = {i["workspace_id"]: i for i in body["items"]}
        assert set(live) == {w[0]["id"], w[1]["id"]}
        assert sorted(live[w[0]["id"]]["terminals"]) == ["1", "2"]
        assert live[w[0]["id"]]["workspace_name"] == "env0"
        assert live[w[1]["id"]]["clients"] == 1
        # Someone else sees none of them and may end none of them.
        assert other.get("/api/terminals").json()["items"] == []
        assert other.delete(f"/api/workspaces/{w[0]['id']}/terminals").status_code == 404
        # Ending one terminal kills its shell; the other stays.
        assert c.delete(f"/api/workspaces/{w[0]['id']}/terminals/2").status_code == 204
        assert a2.expect_control("exit")
        assert a2.wait_closed()
        assert a1.run("echo still-$((1+1))").strip().endswith(b"still-2")
        r = c.delete(f"/api/workspaces/{w[0]['id']}/terminals/nope")
        assert r.status_code == 404 and error_code(r) == "not_found"
        # Ending an environment frees the slot.
        assert c.delete(f"/api/workspaces/{w[1]['id']}/terminals").status_code == 204
        assert b.wait_closed()
        assert wait_for(lambda: len(c.get("/api/terminals").json()["items"]) == 1)
        assert wait_for(lambda: _attach(c, w[2]["id"], terms))
    finally:
        for t in terms:
            t.close()
        assert srv.stop() == 0


def _attach(c, ws_id, terms):
    """Attaches once the slot is free (the environment's teardown is asynchronous)."""
    try:
        terms.append(Term(c, ws_id))
        return True
    except websocket.WebSocketBadStatusException as e:
        assert e.status_code == 429
        return False


def test_needs_a_session_and_csrf(server, user):
    assert Client(server, register=False).get("/api/terminals").status_code == 401
    w = user.workspace("csrf")
    assert user.delete(f"/api/workspaces/{w['id']}/terminals", csrf=False).status_code == 403
