"""Search across a workspace's files (GET /api/workspaces/{id}/search): lines that contain
the text, case rules, binary files skipped, the result cap, bad queries, access."""
from conftest import Client, Server, error_code


def put(c, ws, path, data):
    r = c.put(f"/api/workspaces/{ws}/files/{path}", data=data,
              headers={"Content-Type": "application/octet-stream"})
    assert r.status_code in (200, 201), r.text


def search(c, ws, **params):
    return c.get(f"/api/workspaces/{ws}/search", params=params)


def test_finds_lines_across_files(user):
    ws = user.workspace("search")["id"]
    put(user, ws, "main.py", b"import util\nprint(util.Total())\n")
    put(user, ws, "pkg/util.py", b"def total():\r\n    return 42  # the TOTAL\r\n")
    put(user, ws, "data.bin", b"total\x00\xff\xfe")
    put(user, ws, "notes.txt", "caf\u00e9 total \u00fcber\n".encode())
    r = search(user, ws, q="total")
    assert r.status_code == 200, r.text
    body = r.json()
    hits = [(i["path"], i["line"], i["text"]) for i in body["items"]]
    assert hits == [
        ("main.py", 2, "print(util.Total())"),
        ("notes.txt", 1, "caf\u00e9 total \u00fcber"),
        ("pkg/util.py", 1, "def total():"),
        ("pkg/util.py", 2, "    return 42  # the TOTAL"),
    ]
    assert body["truncated"] is False
    # main.py, notes.txt, pkg/util.py, and the new workspace's own files; not data.bin.
    assert body["files_searched"] >= 3
    r = search(user, ws, q="TOTAL", case="1")
    assert [(i["path"], i["line"]) for i in r.json()["items"]] == [("pkg/util.py", 2)]
    r = search(user, ws, q="nothing like this")
    assert r.json()["items"] == []


def test_long_lines_are_cut_at_a_character(user):
    ws = user.workspace("long")["id"]
    put(user, ws, "long.txt", ("\u00e9" * 300 + " needle").encode())
    item = search(user, ws, q="needle").json()["items"][0]
    assert len(item["text"].encode()) <= 240 and set(item["text"]) == {"\u00e9"}


def test_bad_queries_and_access(server, user, make_user):
    ws = user.workspace("q")["id"]
    for params in ({}, {"q": ""}, {"q": "x" * 201}, {"q": "a\nb"}):
        r = search(user, ws, **params)
        assert r.status_code == 400 and error_code(r) == "invalid_field", params
    other = make_user()
    r = search(other, ws, q="x")
    assert r.status_code == 404 and error_code(r) == "not_found"


def test_result_cap_is_a_setting(tmp_path):
    srv = Server(extra=["--search-max-matches", "3"]).start()
    try:
        c = Client(srv)
        ws = c.workspace("cap")["id"]
        put(c, ws, "many.txt", b"hit\n" * 10)
        body = search(c, ws, q="hit").json()
        assert [i["line"] for i in body["items"]] == [1, 2, 3] and body["truncated"] is True
    finally:
        assert srv.stop() == 0
