"""Submissions: snapshots, the review flow, who may do what, comments, lists, diffs, audit."""
import pytest

from conftest import error_code


def put(c, ws, path, data):
    r = c.put(f"/api/workspaces/{ws['id']}/files/{path}", data=data)
    assert r.status_code in (200, 201), r.text
    return r.json()


def submit(c, ws, message="please review", status=201):
    r = c.post(f"/api/workspaces/{ws['id']}/submissions", json={"message": message})
    assert r.status_code == status, r.text
    return r.json()


def review(c, sid, decision, comment=None, status=200):
    body = {"decision": decision}
    if comment is not None:
        body["comment"] = comment
    r = c.post(f"/api/submissions/{sid}/review", json=body)
    assert r.status_code == status, r.text
    return r


def all_items(c, query):
    """Every item of a paginated list, following next_offset with small pages."""
    items, offset = [], 0
    while offset is not None:
        sep = "&" if query else ""
        r = c.get(f"/api/submissions?{query}{sep}limit=3&offset={offset}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= 3
        items += body["items"]
        offset = body["next_offset"]
    return items


@pytest.fixture
def reviewer(make_user):
    return make_user("reviewer")


def test_whole_flow(user, reviewer, admin):
    ws = user.workspace("homework")
    put(user, ws, "main.py", b"print('hello')\nprint('world')\n")
    put(user, ws, "lib/util.py", b"def f():\n    return 1\n")
    s = submit(user, ws, "first try")
    assert s["status"] == "pending" and s["message"] == "first try"
    assert s["author"] == {"id": user.user["id"], "username": user.username}
    assert s["workspace_id"] == ws["id"] and s["workspace_name"] == "homework"
    assert s["previous_id"] is None and s["decided_at"] is None and s["decided_by"] is None
    assert s["run"]["status"] in ("ok", "error") and s["reviews"] == [] and s["comments"] == []
    assert sorted(f["path"] for f in s["files"]) == ["lib/util.py", "main.py"]
    assert all(set(f) >= {"path", "size", "etag"} for f in s["files"])

    # The reviewer finds it in the pending queue and reads it.
    queue = all_items(reviewer, "status=pending")
    assert s["id"] in [x["id"] for x in queue]
    item = next(x for x in queue if x["id"] == s["id"])
    assert "files" not in item and "reviews" not in item and item["status"] == "pending"
    got = reviewer.get(f"/api/submissions/{s['id']}").json()
    assert got["id"] == s["id"] and got["files"] == s["files"]
    r = reviewer.get(f"/api/submissions/{s['id']}/files/main.py")
    assert r.status_code == 200 and r.content == b"print('hello')\nprint('world')\n"
    assert r.headers["Content-Type"].startswith("text/plain")

    # Line and general comments, from both sides.
    r = reviewer.post(f"/api/submissions/{s['id']}/comments",
                      json={"body": "use a function", "path": "main.py", "line": 2})
    assert r.status_code == 201, r.text
    lc = r.json()
    assert lc["path"] == "main.py" and lc["line"] == 2 and lc["author"]["username"] == reviewer.username
    r = user.post(f"/api/submissions/{s['id']}/comments", json={"body": "ok, will do"})
    assert r.status_code == 201, r.text
    assert r.json()["path"] is None and r.json()["line"] is None

    # Reject with a comment; the submitter sees the verdict.
    d = review(reviewer, s["id"], "reject", "print less").json()
    assert d["status"] == "rejected" and d["decided_by"]["id"] == reviewer.user["id"]
    assert d["decided_at"] is not None
    assert [(x["decision"], x["comment"], x["reviewer"]["id"]) for x in d["reviews"]] == [
        ("reject", "print less", reviewer.user["id"])]
    mine = user.get(f"/api/submissions/{s['id']}").json()
    assert mine["status"] == "rejected" and mine["reviews"][0]["comment"] == "print less"
    assert [c["body"] for c in mine["comments"]] == ["use a function", "ok, will do"]

    # Resubmission: linked to the first, with a diff.
    put(user, ws, "main.py", b"def main():\n    print('hello world')\n\nmain()\n")
    s2 = submit(user, ws, "second try")
    assert s2["previous_id"] == s["id"]
    r = reviewer.get(f"/api/submissions/{s2['id']}/diff?against={s['id']}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["from"] == s["id"] and body["to"] == s2["id"]
    assert [(f["path"], f["status"]) for f in body["files"]] == [("main.py", "modified")]
    assert body["files"][0]["diff"] == (
        "--- a/main.py\n+++ b/main.py\n@@ -1,2 +1,4 @@\n-print('hello')\n-print('world')\n"
        "+def main():\n+    print('hello world')\n+\n+main()\n")
    assert body["files"][0]["added"] == 4 and body["files"][0]["removed"] == 2

    d = review(reviewer, s2["id"], "approve").json()
    assert d["status"] == "approved" and d["reviews"][0]["decision"] == "approve"
    assert user.get(f"/api/submissions/{s2['id']}").json()["status"] == "approved"

    # Every step is in the audit log.
    audit = admin.get("/api/admin/audit?limit=200").json()["items"]
    seen = {(a["action"], a["target"], (a["actor"] or {}).get("id")) for a in audit}
    assert ("submission_create", f"submission:{s['id']}", user.user["id"]) in seen
    assert ("submission_create", f"submission:{s2['id']}", user.user["id"]) in seen
    assert ("submission_reject", f"submission:{s['id']}", reviewer.user["id"]) in seen
    assert ("submission_approve", f"submission:{s2['id']}", reviewer.user["id"]) in seen


def test_snapshot_unchanged_after_workspace_changes(user, reviewer):
    ws = user.workspace()
    put(user, ws, "main.py", b"v1\n")
    put(user, ws, "data/in.txt", b"input\n")
    s = submit(user, ws)
    files_before = s["files"]
    put(user, ws, "main.py", b"v2 changed\n")
    assert user.delete(f"/api/workspaces/{ws['id']}/files/data").status_code == 204
    put(user, ws, "new.py", b"new\n")
    for c in (user, reviewer):
        got = c.get(f"/api/submissions/{s['id']}").json()
        assert got["files"] == files_before
        assert c.get(f"/api/submissions/{s['id']}/files/main.py").content == b"v1\n"
        assert c.get(f"/api/submissions/{s['id']}/files/data/in.txt").content == b"input\n"
        assert c.get(f"/api/submissions/{s['id']}/files/new.py").status_code == 404
    # Even the workspace's deletion leaves the snapshot.
    assert user.delete(f"/api/workspaces/{ws['id']}").status_code == 204
    got = reviewer.get(f"/api/submissions/{s['id']}").json()
    assert got["workspace_id"] is None and got["files"] == files_before
    assert reviewer.get(f"/api/submissions/{s['id']}/files/main.py").content == b"v1\n"
    review(reviewer, s["id"], "approve")


def test_snapshot_file_endpoint(user, reviewer):
    ws = user.workspace()
    put(user, ws, "page.html", b"<script>alert(1)</script>")
    put(user, ws, "pic.png", b"\x89PNG\r\n\x1a\n\x00\x01")
    put(user, ws, "sub/dir/x.py", b"x = 1\n")
    s = submit(user, ws)
    base = f"/api/submissions/{s['id']}/files"
    r = reviewer.get(base + "/page.html")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    r = reviewer.get(base + "/pic.png")
    assert r.headers["Content-Type"] == "image/png" and r.content == b"\x89PNG\r\n\x1a\n\x00\x01"
    etag = r.headers["ETag"]
    assert reviewer.get(base + "/pic.png", headers={"If-None-Match": etag}).status_code == 304
    assert reviewer.get(base + "/sub%2Fdir%2Fx.py").content == b"x = 1\n"
    assert reviewer.get(base + "/nope.py").status_code == 404
    r = reviewer.get(base + "/sub")
    assert r.status_code == 409 and error_code(r) == "conflict"
    r = reviewer.get(base + "/%2e%2e/x")
    assert r.status_code == 400 and error_code(r) == "invalid_path"
    # Folders are not listed as files.
    assert sorted(f["path"] for f in s["files"]) == ["main.py", "page.html", "pic.png", "sub/dir/x.py"]


def test_submitter_on_review_endpoints_is_403(user, make_user, reviewer):
    ws = user.workspace()
    s = submit(user, ws)
    other = make_user()
    for c in (user, other):
        for sid in (s["id"], 999999999):
            r = c.post(f"/api/submissions/{sid}/review", json={"decision": "approve"})
            assert r.status_code == 403 and error_code(r) == "forbidden", r.text
    assert reviewer.get(f"/api/submissions/{s['id']}").json()["status"] == "pending"


def test_other_submitters_submission_is_404(user, make_user):
    ws = user.workspace()
    s = submit(user, ws)
    other = make_user()
    own = submit(other, other.workspace())
    base = f"/api/submissions/{s['id']}"
    for method, path, body in [("GET", base, None), ("GET", base + "/files/main.py", None),
                               ("POST", base + "/comments", {"body": "hi"}),
                               ("POST", base + "/withdraw", None),
                               ("GET", base + f"/diff?against={own['id']}", None),
                               ("GET", f"/api/submissions/{own['id']}/diff?against={s['id']}", None)]:
        r = other.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert error_code(r) == "not_found"
    # Lists: only their own, whatever they ask for.
    for q in ("", "status=pending", "mine=0"):
        ids = [x["id"] for x in all_items(other, q)]
        assert s["id"] not in ids and own["id"] in ids
        assert all(x["author"]["id"] == other.user["id"] for x in all_items(other, q))
    # Unchanged for its author.
    got = user.get(base).json()
    assert got["status"] == "pending" and got["comments"] == []
    # And nobody can submit another user's workspace.
    r = other.post(f"/api/workspaces/{ws['id']}/submissions", json={"message": "x"})
    assert r.status_code == 404


def test_only_the_owner_submits(user, reviewer, admin):
    ws = user.workspace()
    r = reviewer.post(f"/api/workspaces/{ws['id']}/submissions", json={"message": "x"})
    assert r.status_code == 404
    # An admin can see the workspace, but the submission would not be theirs to make.
    r = admin.post(f"/api/workspaces/{ws['id']}/submissions", json={"message": "x"})
    assert r.status_code == 403 and error_code(r) == "forbidden"
    assert user.get("/api/submissions?mine=1").json()["items"] == []


def test_reviewers_cannot_edit_workspaces(user, reviewer):
    ws = user.workspace()
    submit(user, ws)
    base = f"/api/workspaces/{ws['id']}"
    for method, path in [("GET", base), ("PATCH", base), ("DELETE", base),
                         ("GET", base + "/files"), ("GET", base + "/files/main.py"),
                         ("PUT", base + "/files/main.py"), ("DELETE", base + "/files/main.py"),
                         ("POST", base + "/folders"), ("POST", base + "/move")]:
        r = reviewer.request(method, path, json={"name": "x"} if method == "PATCH" else None)
        assert r.status_code == 404, (method, path, r.status_code)
    assert user.get(base + "/files/main.py").status_code == 200


def test_self_review_refused(make_user, admin):
    rv = make_user("reviewer")
    s = submit(rv, rv.workspace())
    r = review(rv, s["id"], "approve", status=403)
    assert error_code(r) == "forbidden"
    # An admin's own submission: the same rule.
    a = submit(admin, admin.workspace())
    review(admin, a["id"], "approve", status=403)
    # Someone else may decide both.
    review(admin, s["id"], "approve")
    review(rv, a["id"], "reject", "no")
    assert rv.get(f"/api/submissions/{s['id']}").json()["status"] == "approved"


def test_deciding_twice_is_409(user, reviewer, make_user, admin):
    s = submit(user, user.workspace())
    review(reviewer, s["id"], "approve")
    for c, decision in ((reviewer, "approve"), (reviewer, "reject"), (make_user("reviewer"), "approve"),
                        (admin, "reject")):
        r = review(c, s["id"], decision, "again", status=409)
        assert error_code(r) == "already_decided"
    got = user.get(f"/api/submissions/{s['id']}").json()
    assert got["status"] == "approved" and len(got["reviews"]) == 1
    assert got["decided_by"]["id"] == reviewer.user["id"]
    # A withdrawn submission cannot be decided either.
    ws2 = user.workspace()
    s2 = submit(user, ws2)
    assert user.post(f"/api/submissions/{s2['id']}/withdraw").status_code == 200
    assert error_code(review(reviewer, s2["id"], "approve", status=409)) == "already_decided"


def test_review_body_rules(user, reviewer):
    s = submit(user, user.workspace())
    sid = s["id"]
    for body in ({"decision": "reject"}, {"decision": "reject", "comment": ""},
                 {"decision": "reject", "comment": "  \n\t"}, {"decision": "maybe"},
                 {}, {"decision": 1}, {"decision": "approve", "comment": 5},
                 {"decision": "approve", "comment": "x" * 10001},
                 {"decision": "approve", "comment": "bell\u0007"}):
        r = reviewer.post(f"/api/submissions/{sid}/review", json=body)
        assert r.status_code == 400, (body, r.text)
    r = reviewer.post(f"/api/submissions/{sid}/review", data="not json")
    assert r.status_code == 400
    assert reviewer.get(f"/api/submissions/{sid}").json()["status"] == "pending"
    # A comment may go with an approval too, with line breaks.
    d = review(reviewer, sid, "approve", "nice\nwork").json()
    assert d["reviews"][0]["comment"] == "nice\nwork"
    review(reviewer, 999999999, "approve", status=404)


def test_withdraw_only_while_pending(user, reviewer, make_user):
    ws = user.workspace()
    s = submit(user, ws)
    # Not the author: a reviewer sees it but may not withdraw; another submitter does not see it.
    r = reviewer.post(f"/api/submissions/{s['id']}/withdraw")
    assert r.status_code == 403
    assert make_user().post(f"/api/submissions/{s['id']}/withdraw").status_code == 404
    r = user.post(f"/api/submissions/{s['id']}/withdraw")
    assert r.status_code == 200, r.text
    w = r.json()
    assert w["status"] == "withdrawn" and w["decided_by"]["id"] == user.user["id"]
    assert "files" in w and w["reviews"] == []
    r = user.post(f"/api/submissions/{s['id']}/withdraw")
    assert r.status_code == 409 and error_code(r) == "already_decided"
    # Decided submissions cannot be withdrawn.
    s2 = submit(user, ws)
    assert s2["previous_id"] == s["id"]
    review(reviewer, s2["id"], "reject", "redo it")
    r = user.post(f"/api/submissions/{s2['id']}/withdraw")
    assert r.status_code == 409 and error_code(r) == "already_decided"
    assert user.get(f"/api/submissions/{s2['id']}").json()["status"] == "rejected"
    s3 = submit(user, ws)
    review(reviewer, s3["id"], "approve")
    assert user.post(f"/api/submissions/{s3['id']}/withdraw").status_code == 409
    assert user.post("/api/submissions/999999999/withdraw").status_code == 404


def test_one_pending_submission_per_workspace(user):
    ws = user.workspace()
    s = submit(user, ws)
    r = user.post(f"/api/workspaces/{ws['id']}/submissions", json={"message": "again"})
    assert r.status_code == 409 and error_code(r) == "conflict"
    assert str(s["id"]) in r.json()["error"]["message"]
    # Another workspace is fine; after withdrawing, this one is fine again.
    submit(user, user.workspace())
    assert user.post(f"/api/submissions/{s['id']}/withdraw").status_code == 200
    assert submit(user, ws)["previous_id"] == s["id"]


def test_create_body_rules(user):
    ws = user.workspace()
    base = f"/api/workspaces/{ws['id']}/submissions"
    for body in ({"message": 3}, {"message": "x" * 4001}, {"message": "nul\u0000"}, [1]):
        r = user.post(base, json=body)
        assert r.status_code == 400, (body, r.text)
    # No message at all is fine; unicode and line breaks are kept.
    r = user.post(base, json={})
    assert r.status_code == 201 and r.json()["message"] == ""
    assert user.post(f"/api/submissions/{r.json()['id']}/withdraw").status_code == 200
    assert submit(user, ws, "héllo\nwörld")["message"] == "héllo\nwörld"
    # An empty workspace has nothing to submit.
    empty = user.workspace()
    assert user.delete(f"/api/workspaces/{empty['id']}/files/main.py").status_code == 204
    r = user.post(f"/api/workspaces/{empty['id']}/submissions", json={"message": "x"})
    assert r.status_code == 400
    assert user.post("/api/workspaces/999999999/submissions", json={}).status_code == 404
    # CSRF applies as on every write.
    r = user.post(f"/api/workspaces/{empty['id']}/submissions", json={}, csrf=False)
    assert r.status_code == 403 and error_code(r) == "csrf"


def test_comments(user, reviewer, make_user):
    ws = user.workspace()
    put(user, ws, "main.py", b"a = 1\nb = 2\nc = 3")  # 3 lines, no final newline
    put(user, ws, "pkg/empty.py", b"")
    s = submit(user, ws)
    url = f"/api/submissions/{s['id']}/comments"
    bad = [{"body": ""}, {"body": "   "}, {}, {"body": 1}, {"body": "x" * 10001},
           {"body": "x", "line": 1},
           {"body": "x", "path": "nope.py"}, {"body": "x", "path": "pkg"},
           {"body": "x", "path": "../main.py"}, {"body": "x", "path": 7},
           {"body": "x", "path": "main.py", "line": 0}, {"body": "x", "path": "main.py", "line": 4},
           {"body": "x", "path": "main.py", "line": "2"}, {"body": "x", "path": "main.py", "line": 1.5},
           {"body": "x", "path": "pkg/empty.py", "line": 1}]
    for body in bad:
        r = reviewer.post(url, json=body)
        assert r.status_code == 400, (body, r.text)
    ok = [{"body": "general"}, {"body": "file", "path": "main.py"},
          {"body": "last line", "path": "main.py", "line": 3},
          {"body": "first", "path": "main.py", "line": 1, }, {"body": "empty file", "path": "pkg/empty.py"},
          {"body": "null line", "path": "main.py", "line": None}]
    made = []
    for body in ok:
        r = user.post(url, json=body)
        assert r.status_code == 201, (body, r.text)
        made.append(r.json())
    got = reviewer.get(f"/api/submissions/{s['id']}").json()["comments"]
    assert [(c["body"], c["path"], c["line"]) for c in got] == [
        ("general", None, None), ("file", "main.py", None), ("last line", "main.py", 3),
        ("first", "main.py", 1), ("empty file", "pkg/empty.py", None), ("null line", "main.py", None)]
    assert [c["id"] for c in got] == [c["id"] for c in made]
    # Another submitter cannot comment (404); comments still work after a decision.
    assert make_user().post(url, json={"body": "x"}).status_code == 404
    review(reviewer, s["id"], "approve")
    assert user.post(url, json={"body": "thanks!"}).status_code == 201


def test_diff_and_linkage(user, reviewer, make_user):
    ws = user.workspace()
    put(user, ws, "main.py", b"one\ntwo\nthree\n")
    put(user, ws, "gone.py", b"bye\n")
    put(user, ws, "same.py", b"same\n")
    put(user, ws, "blob.bin", b"\x00\x01\x02")
    s1 = submit(user, ws)
    review(reviewer, s1["id"], "reject", "more")
    put(user, ws, "main.py", b"one\n2\nthree")
    assert user.delete(f"/api/workspaces/{ws['id']}/files/gone.py").status_code == 204
    put(user, ws, "new.py", b"fresh\n")
    put(user, ws, "blob.bin", b"\x00\x01\x03")
    s2 = submit(user, ws)
    assert s2["previous_id"] == s1["id"]
    r = user.get(f"/api/submissions/{s2['id']}/diff?against={s1['id']}")
    assert r.status_code == 200, r.text
    files = {f["path"]: f for f in r.json()["files"]}
    assert set(files) == {"main.py", "gone.py", "new.py", "blob.bin"}  # same.py is unchanged
    assert files["main.py"]["status"] == "modified"
    assert files["main.py"]["diff"] == (
        "--- a/main.py\n+++ b/main.py\n@@ -1,3 +1,3 @@\n one\n-two\n-three\n+2\n+three\n"
        "\\ No newline at end of file\n")
    assert files["gone.py"]["status"] == "removed"
    assert files["gone.py"]["diff"] == "--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
    assert files["new.py"]["status"] == "added"
    assert files["new.py"]["diff"] == "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+fresh\n"
    assert files["blob.bin"]["binary"] is True and files["blob.bin"]["diff"] is None
    assert all(f["too_large"] is False for f in files.values())
    # The other direction swaps added and removed.
    back = {f["path"]: f["status"] for f in
            reviewer.get(f"/api/submissions/{s1['id']}/diff?against={s2['id']}").json()["files"]}
    assert back == {"main.py": "modified", "gone.py": "added", "new.py": "removed",
                    "blob.bin": "modified"}
    # Against itself: nothing changed.
    assert user.get(f"/api/submissions/{s2['id']}/diff?against={s2['id']}").json()["files"] == []
    # Bad or foreign "against".
    for q in ("", "?against=", "?against=abc", "?against=0", "?against=-1"):
        assert user.get(f"/api/submissions/{s2['id']}/diff{q}").status_code == 400, q
    assert user.get(f"/api/submissions/{s2['id']}/diff?against=999999999").status_code == 404
    other_ws = submit(user, user.workspace())
    r = user.get(f"/api/submissions/{s2['id']}/diff?against={other_ws['id']}")
    assert r.status_code == 400 and error_code(r) == "invalid_field"
    # Linkage survives the workspace's deletion.
    assert user.delete(f"/api/workspaces/{ws['id']}").status_code == 204
    r = reviewer.get(f"/api/submissions/{s2['id']}/diff?against={s1['id']}")
    assert r.status_code == 200 and len(r.json()["files"]) == 4


def test_large_file_diff(user, reviewer):
    ws = user.workspace()
    big = "".join(f"line {i}\n" for i in range(20000)).encode()
    put(user, ws, "big.py", big)
    s1 = submit(user, ws)
    review(reviewer, s1["id"], "reject", "x")
    put(user, ws, "big.py", big.replace(b"line 10000\n", b"changed\n"))
    s2 = submit(user, ws)
    f = reviewer.get(f"/api/submissions/{s2['id']}/diff?against={s1['id']}").json()["files"][0]
    assert f["added"] == 1 and f["removed"] == 1
    assert "-line 10000\n+changed\n" in f["diff"]


def test_list_filters_pagination_and_order(make_user, admin):
    rv = make_user("reviewer")
    authors = [make_user() for _ in range(3)]
    made = []
    for a in authors:
        for _ in range(2):
            made.append((a, submit(a, a.workspace())))
    ids = [s["id"] for _, s in made]
    # Decide some: approve 0 and 2, reject 1, withdraw 3; 4 and 5 stay pending.
    review(rv, ids[0], "approve")
    review(rv, ids[2], "approve")
    review(rv, ids[1], "reject", "no")
    a3, s3 = made[3]
    assert a3.post(f"/api/submissions/{s3['id']}/withdraw").status_code == 200

    pending = all_items(rv, "status=pending")
    pids = [x["id"] for x in pending]
    assert pids == sorted(pids), "pending is oldest first"
    assert len(pids) == len(set(pids)), "pages do not overlap"
    assert all(x["status"] == "pending" for x in pending)
    assert ids[4] in pids and ids[5] in pids and ids[0] not in pids
    approved = [x["id"] for x in all_items(rv, "status=approved")]
    assert approved == sorted(approved, reverse=True), "decided lists are newest first"
    assert ids[0] in approved and ids[2] in approved and ids[1] not in approved
    assert ids[1] in [x["id"] for x in all_items(rv, "status=rejected")]
    assert ids[3] in [x["id"] for x in all_items(rv, "status=withdrawn")]
    everything = [x["id"] for x in all_items(admin, "")]
    assert set(ids) <= set(everything) and everything == sorted(everything, reverse=True)
    # next_offset: null on the last page.
    r = rv.get("/api/submissions?status=pending&limit=1").json()
    assert len(r["items"]) == 1 and r["next_offset"] == 1
    r = rv.get(f"/api/submissions?status=pending&limit=200&offset={len(pids)}").json()
    assert r["items"] == [] and r["next_offset"] is None
    # mine=1: a reviewer's own only; submitters always get their own.
    own = submit(rv, rv.workspace())
    assert [x["id"] for x in all_items(rv, "mine=1")] == [own["id"]]
    a0 = authors[0]
    assert sorted(x["id"] for x in all_items(a0, "")) == sorted(ids[:2])
    assert [x["id"] for x in all_items(a0, "status=approved")] == [ids[0]]
    assert [x["id"] for x in all_items(a0, "status=rejected&mine=1")] == [ids[1]]
    # Bad filters.
    for q in ("status=done", "status=PENDING"):
        r = rv.get(f"/api/submissions?{q}")
        assert r.status_code == 400 and error_code(r) == "invalid_field", q
    assert rv.request("GET", "/api/submissions", csrf=False).status_code == 200


def test_requires_login(server):
    import requests
    for method, path in [("GET", "/api/submissions"), ("GET", "/api/submissions/1"),
                         ("POST", "/api/submissions/1/review"), ("POST", "/api/workspaces/1/submissions"),
                         ("GET", "/api/submissions/1/diff?against=2")]:
        r = requests.request(method, server.url + path, timeout=30)
        assert r.status_code == 401, (method, path)
