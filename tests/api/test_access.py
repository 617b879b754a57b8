"""Who may do what in a workspace: every workspace-scoped route of the OpenAPI document
(scripts/openapi.py's ACCESS table) walked with a stranger, a viewer and an editor, and
the members API with its role boundaries and audit log."""
import os
import sys

from conftest import error_code

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import openapi  # noqa: E402

LEVELS = ["viewer", "editor", "owner"]


def scoped_routes():
    return [(r["method"], r["path"]) for r in openapi.ROUTES if openapi.scoped(r["path"])]


def test_access_table_names_exactly_the_scoped_routes():
    # A route that acts on a workspace but is missing from the table (or a table entry
    # for a route that does not exist) fails here before anything is asked of a server.
    assert sorted(scoped_routes()) == sorted(openapi.ACCESS)
    assert set(openapi.ACCESS.values()) <= set(LEVELS)


def share(owner, ws, who, role):
    r = owner.post(f"/api/workspaces/{ws}/members", json={"username": who.username, "role": role})
    assert r.status_code in (200, 201), r.text
    return r


def url_for(path, ws, run, member_id):
    return (path.replace("/api/workspaces/{id}", f"/api/workspaces/{ws}")
            .replace("/api/runs/{id}", f"/api/runs/{run}")
            .replace("/artifacts/{path}", "/artifacts/figure-1.png")
            .replace("{path}", "main.py")
            .replace("{user_id}", str(member_id))
            .replace("{name}", "1"))


def call(client, method, url):
    """One request as a browser would send it (same-site Origin for the terminal)."""
    kw = {"headers": {"Origin": client.server.url}}
    if method == "PUT":
        kw["data"] = b"changed = True\n"
    elif method in ("POST", "PATCH"):
        kw["json"] = {}
    if url.endswith("/events"):
        kw["stream"] = True  # Server-Sent Events: the status is all we need
    r = client.request(method, url, **kw)
    if kw.get("stream"):
        if r.status_code >= 400:
            _ = r.content  # an error's body, read before the stream is closed
        r.close()
    return r


def answer(r):
    """What a caller learns from an answer: its status, and an error's whole body."""
    if r.status_code >= 400 and r.headers.get("Content-Type", "").startswith("application/json"):
        return r.status_code, r.json()
    return r.status_code, None


def test_every_workspace_route_checks_access(server, admin, make_user):
    owner, viewer, editor, stranger, bystander = (make_user() for _ in range(5))
    w = owner.workspace("shared")
    ws = w["id"]
    share(owner, ws, viewer, "viewer")
    share(owner, ws, editor, "editor")
    share(owner, ws, bystander, "viewer")
    r = owner.post(f"/api/workspaces/{ws}/runs?wait=1", json={})
    assert r.status_code in (200, 202), r.text
    run = r.json()["id"]
    for method, path in scoped_routes():
        need = openapi.ACCESS[(method, path)]
        url = url_for(path, ws, run, bystander.user["id"])
        where = f"{method} {path}"
        # A stranger learns nothing: the workspace and its runs do not exist for them.
        r = call(stranger, method, url)
        assert r.status_code == 404 and error_code(r) == "not_found", (where, r.text)
        for who, level in ((viewer, "viewer"), (editor, "editor")):
            r = call(who, method, url)
            if LEVELS.index(level) < LEVELS.index(need):
                want = "read_only" if level == "viewer" else "forbidden"
                assert r.status_code == 403 and error_code(r) == want, (where, level, r.text)
            elif method == "GET":
                # Allowed reads answer a member exactly as they answer the owner.
                assert answer(r) == answer(call(owner, method, url)), (where, level, r.text)
    # Nothing the viewer or the editor tried above changed the workspace.
    me = owner.get(f"/api/workspaces/{ws}").json()
    assert me["name"] == "shared" and me["role"] == "owner"
    body = owner.get(f"/api/workspaces/{ws}/files/main.py").text
    assert "changed = True" not in body
    names = {m["user"]["username"] for m in owner.get(f"/api/workspaces/{ws}/members").json()["items"]}
    assert names == {viewer.username, editor.username, bystander.username}


def test_members_roles_and_audit(server, admin, make_user):
    owner, friend, other = make_user(), make_user(), make_user()
    ws = owner.workspace("class")["id"]
    base = f"/api/workspaces/{ws}"
    assert friend.get(base).status_code == 404
    assert ws not in [x["id"] for x in friend.get("/api/workspaces").json()["items"]]

    r = owner.post(f"{base}/members", json={"username": friend.username, "role": "viewer"})
    assert r.status_code == 201
    assert r.json()["user"] == {"id": friend.user["id"], "username": friend.username}
    assert r.json()["role"] == "viewer"
    # The shared workspace shows in the member's list with their role.
    items = {x["id"]: x for x in friend.get("/api/workspaces").json()["items"]}
    assert items[ws]["role"] == "viewer" and items[ws]["owner"]["id"] == owner.user["id"]
    assert friend.get(base).json()["role"] == "viewer"
    assert friend.get(f"{base}/files/main.py").status_code == 200
    r = friend.put(f"{base}/files/main.py", data=b"x = 1\n")
    assert r.status_code == 403 and error_code(r) == "read_only"
    r = friend.post(f"{base}/runs", json={})
    assert r.status_code == 403 and error_code(r) == "read_only"

    # Promote: 200, now an editor who writes but may not share, rename or delete.
    r = owner.post(f"{base}/members", json={"username": friend.username, "role": "editor"})
    assert r.status_code == 200 and r.json()["role"] == "editor"
    assert friend.put(f"{base}/files/main.py", data=b"x = 1\n").status_code == 200
    r = friend.post(f"{base}/members", json={"username": other.username, "role": "viewer"})
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = friend.patch(base, json={"name": "mine now"})
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = friend.post(f"{base}/submissions", json={"message": "x"})
    assert r.status_code == 403 and error_code(r) == "forbidden"

    # Bad requests.
    r = owner.post(f"{base}/members", json={"username": other.username, "role": "owner"})
    assert r.status_code == 400 and error_code(r) == "invalid_field"
    r = owner.post(f"{base}/members", json={"username": "no-such-user-x", "role": "viewer"})
    assert r.status_code == 404
    r = owner.post(f"{base}/members", json={"username": owner.username, "role": "viewer"})
    assert r.status_code == 409 and error_code(r) == "conflict"
    r = owner.post(f"{base}/members", json={"username": other.username})
    assert r.status_code == 400

    # An admin manages any workspace's members.
    r = admin.post(f"{base}/members", json={"username": other.username, "role": "viewer"})
    assert r.status_code == 201
    # A member may leave; a viewer may not remove someone else.
    r = other.delete(f"{base}/members/{friend.user['id']}")
    assert r.status_code == 403 and error_code(r) == "read_only"
    assert other.delete(f"{base}/members/{other.user['id']}").status_code == 204
    assert other.get(base).status_code == 404
    # Removal takes effect at once, for the next request.
    assert owner.delete(f"{base}/members/{friend.user['id']}").status_code == 204
    assert friend.get(base).status_code == 404
    assert friend.put(f"{base}/files/main.py", data=b"y = 2\n").status_code == 404
    assert owner.delete(f"{base}/members/{friend.user['id']}").status_code == 404
    assert owner.get(f"{base}/members").json()["items"] == []

    audit = admin.get("/api/admin/audit?limit=200").json()["items"]
    mine = [(a["action"], a["detail"]) for a in audit if a["target"] == f"workspace:{ws}"]
    fid, oid = friend.user["id"], other.user["id"]
    for entry in [("member_add", f"user:{fid} viewer"), ("member_role", f"user:{fid} editor"),
                  ("member_add", f"user:{oid} viewer"), ("member_remove", f"user:{oid}"),
                  ("member_remove", f"user:{fid}")]:
        assert entry in mine, (entry, mine)


def test_member_limit(make_user):
    from conftest import Client, Server
    srv = Server(extra=["--max-members", "2"]).start()
    try:
        owner = Client(srv, username="admin-x")
        a, b, c = Client(srv), Client(srv), Client(srv)
        ws = owner.workspace()["id"]
        share(owner, ws, a, "viewer")
        share(owner, ws, b, "editor")
        r = owner.post(f"/api/workspaces/{ws}/members", json={"username": c.username, "role": "viewer"})
        assert r.status_code == 413 and error_code(r) == "too_large"
        # Changing a member's role is not a new member.
        assert share(owner, ws, a, "editor").status_code == 200
    finally:
        assert srv.stop() == 0


def test_workspace_deleted_takes_its_members(make_user):
    owner, friend = make_user(), make_user()
    ws = owner.workspace()["id"]
    share(owner, ws, friend, "editor")
    assert owner.delete(f"/api/workspaces/{ws}").status_code == 204
    assert friend.get(f"/api/workspaces/{ws}").status_code == 404
    assert ws not in [x["id"] for x in friend.get("/api/workspaces").json()["items"]]


def test_removed_or_demoted_member_loses_the_live_view_at_once(server, make_user):
    """A removed member's open event stream would keep showing file names and etags; a
    demoted one keeps rights they no longer have. Both streams end on the change."""
    from test_attacks import DEADLINE, EventReader
    owner, friend = make_user(), make_user()
    ws = owner.workspace()["id"]
    url = server.url + f"/api/workspaces/{ws}/events"
    for change in ("demote", "remove"):
        share(owner, ws, friend, "editor")
        r = friend.s.get(url, stream=True, timeout=4 * DEADLINE)
        assert r.status_code == 200
        events = EventReader(r)
        assert owner.put(f"/api/workspaces/{ws}/files/{change}.txt", data=b"1").status_code == 201
        events.wait_for(f"{change}.txt")
        if change == "demote":
            share(owner, ws, friend, "viewer")
        else:
            assert owner.delete(f"/api/workspaces/{ws}/members/{friend.user['id']}").status_code == 204
        assert events.ended.wait(DEADLINE), f"the event stream stayed open after {change}"
        assert events.how == "closed", events.how
        r.close()
    assert friend.s.get(url, stream=True, timeout=DEADLINE).status_code == 404


def test_removed_member_loses_the_runs_they_started(make_user):
    owner, friend = make_user(), make_user()
    ws = owner.workspace()["id"]
    share(owner, ws, friend, "editor")
    r = friend.post(f"/api/workspaces/{ws}/runs?wait=1", json={})
    assert r.status_code == 200, r.text
    run = r.json()["id"]
    assert friend.get(f"/api/runs/{run}").status_code == 200
    share(owner, ws, friend, "viewer")  # demoted: still sees (and may steer) their own run
    assert friend.get(f"/api/runs/{run}").status_code == 200
    assert owner.delete(f"/api/workspaces/{ws}/members/{friend.user['id']}").status_code == 204
    for method, path in [("GET", f"/api/runs/{run}"), ("GET", f"/api/runs/{run}/events"),
                         ("POST", f"/api/runs/{run}/cancel")]:
        r = call(friend, method, path)
        assert r.status_code == 404 and error_code(r) == "not_found", (path, r.text)
