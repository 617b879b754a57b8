"""File history: every stored version with who and how, versions' bytes, diffs between
them, restore (itself a version), the per-file and per-workspace budget, and bad input."""
import pytest

from conftest import Client, Server, error_code


def history(c, ws, path, **q):
    r = c.get(f"/api/workspaces/{ws}/files/{path}", params={"history": "1", **q})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def put(c, ws, path, data):
    r = c.put(f"/api/workspaces/{ws}/files/{path}", data=data)
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_saves_versions_diff_and_restore(user, make_user):
    ws = user.workspace()["id"]
    editor = make_user()
    r = user.post(f"/api/workspaces/{ws}/members", json={"username": editor.username, "role": "editor"})
    assert r.status_code == 201
    put(user, ws, "a.py", b"one\ncommon\n")
    put(editor, ws, "a.py", b"two\ncommon\n")
    put(editor, ws, "a.py", b"two\ncommon\n")  # the same bytes: no new version
    items = history(user, ws, "a.py")
    assert [v["version"] for v in items] == [2, 1]
    assert [v["author"]["username"] for v in items] == [editor.username, user.username]
    assert {v["source"] for v in items} == {"save"}
    assert items[1]["size"] == len(b"one\ncommon\n") and items[1]["at"]

    r = user.get(f"/api/workspaces/{ws}/files/a.py", params={"version": "1"})
    assert r.status_code == 200 and r.content == b"one\ncommon\n"
    assert r.headers["ETag"].strip('"') == items[1]["etag"]
    r = user.get(f"/api/workspaces/{ws}/files/a.py", params={"version": "9"})
    assert r.status_code == 404 and error_code(r) == "not_found"

    d = user.get(f"/api/workspaces/{ws}/files/a.py", params={"diff": "1..2"}).json()
    assert d["from"] == 1 and d["to"] == 2 and d["added"] == 1 and d["removed"] == 1
    assert "-one\n+two\n common\n" in d["diff"] and d["diff"].startswith("--- version 1\n")

    r = editor.post(f"/api/workspaces/{ws}/restore", json={"path": "a.py", "version": 1})
    assert r.status_code == 200, r.text
    assert user.get(f"/api/workspaces/{ws}/files/a.py").content == b"one\ncommon\n"
    top = history(user, ws, "a.py")[0]
    assert top["version"] == 3 and top["source"] == "restore"
    assert top["author"]["username"] == editor.username and top["etag"] == r.json()["etag"]
    # The starter file has its first version from the workspace's creation.
    first = history(user, ws, "main.py")
    assert [(v["version"], v["source"], v["author"]["username"]) for v in first] == \
        [(1, "save", user.username)]


def test_deleted_file_keeps_its_history_and_comes_back(user):
    ws = user.workspace()["id"]
    put(user, ws, "notes/todo.txt", b"buy milk\n")
    assert user.delete(f"/api/workspaces/{ws}/files/notes").status_code == 204
    assert [v["version"] for v in history(user, ws, "notes/todo.txt")] == [1]
    r = user.post(f"/api/workspaces/{ws}/restore", json={"path": "notes/todo.txt", "version": 1})
    assert r.status_code == 201, r.text
    assert user.get(f"/api/workspaces/{ws}/files/notes/todo.txt").content == b"buy milk\n"
    # Restoring the bytes the file already has adds no version.
    assert [v["version"] for v in history(user, ws, "notes/todo.txt")] == [1]


def test_run_write_back_is_a_version_and_restores(user):
    ws = user.workspace()["id"]
    put(user, ws, "data.txt", b"original\n")
    put(user, ws, "main.py", b"open('data.txt', 'w').write('overwritten by the run\\n')\n")
    r = user.post(f"/api/workspaces/{ws}/runs?wait=1", json={})
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    assert user.get(f"/api/workspaces/{ws}/files/data.txt").content == b"overwritten by the run\n"
    items = history(user, ws, "data.txt")
    assert [(v["version"], v["source"]) for v in items] == [(2, "run"), (1, "save")]
    assert items[0]["author"]["username"] == user.username
    r = user.post(f"/api/workspaces/{ws}/restore", json={"path": "data.txt", "version": 1})
    assert r.status_code == 200
    assert user.get(f"/api/workspaces/{ws}/files/data.txt").content == b"original\n"


def test_viewer_reads_history_but_cannot_restore(user, make_user):
    ws = user.workspace()["id"]
    viewer = make_user()
    user.post(f"/api/workspaces/{ws}/members", json={"username": viewer.username, "role": "viewer"})
    put(user, ws, "a.txt", b"1\n")
    put(user, ws, "a.txt", b"2\n")
    assert [v["version"] for v in history(viewer, ws, "a.txt")] == [2, 1]
    r = viewer.post(f"/api/workspaces/{ws}/restore", json={"path": "a.txt", "version": 1})
    assert r.status_code == 403 and error_code(r) == "read_only"
    assert user.get(f"/api/workspaces/{ws}/files/a.txt").content == b"2\n"


@pytest.mark.parametrize("query", [
    {"version": "0"}, {"version": "-1"}, {"version": "1x"}, {"version": ""},
    {"diff": "1"}, {"diff": "1..x"}, {"diff": "..2"}, {"diff": "1..2..3"},
    {"history": "yes"}, {"history": "1", "version": "1"},
])
def test_bad_history_queries(user, query):
    ws = user.workspace()["id"]
    r = user.get(f"/api/workspaces/{ws}/files/main.py", params=query)
    assert r.status_code == 400, (query, r.text)
    assert error_code(r) in ("invalid_field", "bad_request")


def test_bad_restores(user):
    ws = user.workspace()["id"]
    base = f"/api/workspaces/{ws}/restore"
    for body, code in [({"path": "main.py"}, "invalid_field"),
                       ({"path": "main.py", "version": "1"}, "invalid_field"),
                       ({"path": "main.py", "version": 0}, "invalid_field"),
                       ({"path": "../etc/passwd", "version": 1}, "invalid_path"),
                       ({"version": 1}, "invalid_field")]:
        r = user.post(base, json=body)
        assert r.status_code == 400 and error_code(r) == code, (body, r.text)
    r = user.post(base, json={"path": "main.py", "version": 7})
    assert r.status_code == 404
    r = user.post(base, data=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error_code(r) == "invalid_json"


def test_budget_drops_oldest_first_but_keeps_each_newest():
    srv = Server(extra=["--history-versions", "3", "--history-bytes", "1400"]).start()
    try:
        c = Client(srv)
        ws = c.workspace()["id"]
        for i in range(1, 7):
            put(c, ws, "a.txt", f"{i}\n".encode())
        # Per file: the last three.
        assert [v["version"] for v in history(c, ws, "a.txt")] == [6, 5, 4]
        assert c.get(f"/api/workspaces/{ws}/files/a.txt", params={"version": "3"}).status_code == 404
        # Per workspace (1400 bytes, main.py's ~300 included): the third 400-byte version
        # of b.txt pushes out the oldest versions, a.txt's 4 and 5, then b.txt's 1; never a
        # file's newest.
        for ch in "xyz":
            put(c, ws, "b.txt", ch.encode() * 400)
        a = [v["version"] for v in history(c, ws, "a.txt")]
        b = [v["version"] for v in history(c, ws, "b.txt")]
        assert a[0] == 6 and b[0] == 3
        kept = sum(v["size"] for p in ("a.txt", "b.txt", "main.py") for v in history(c, ws, p))
        assert kept <= 1400, kept
        assert a == [6] and b == [3, 2]
        # A single file bigger than the whole budget still keeps its newest version.
        put(c, ws, "big.txt", b"B" * 1500)
        assert [v["version"] for v in history(c, ws, "big.txt")] == [1]
        assert [v["version"] for v in history(c, ws, "b.txt")] == [3]
    finally:
        assert srv.stop() == 0


def test_terminal_write_is_a_version(user):
    """A file changed in a terminal comes back through the live environment's write-back:
    it is a version too (source terminal, no author: anyone in the shell could have typed)."""
    from test_terminals import Term, wait_for
    ws = user.workspace()["id"]
    put(user, ws, "notes.txt", b"from the editor\n")
    t = Term(user, ws)
    t.run("echo from the terminal > notes.txt")
    wait_for(lambda: user.get(f"/api/workspaces/{ws}/files/notes.txt").text == "from the terminal\n")
    t.close()
    items = history(user, ws, "notes.txt")
    assert [(v["version"], v["source"], v["author"]) for v in items][:1] == [(2, "terminal", None)]
    d = user.get(f"/api/workspaces/{ws}/files/notes.txt", params={"diff": "1..2"}).json()
    assert "-from the editor\n+from the terminal\n" in d["diff"]
