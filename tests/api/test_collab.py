"""Working together in one workspace, the live half (issue 17): presence and follow over the
event stream, the co-editing relay (a file's CRDT update log for late joiners) and the
terminal mirrored read-only to watchers. Black-box against a real server.

The updates here are opaque bytes to the server (the page sends Yjs updates); the tests use
recognisable byte strings so what comes back can be compared exactly.
"""
import base64
import queue
import time

import pytest
import requests

from conftest import error_code
from test_terminals import Events, Term

DEADLINE = 20


class Stream(Events):
    """The workspace's event stream opened as a page would, with ?client=."""

    def expect(self, name, match=lambda d: True, timeout=DEADLINE):
        end = time.monotonic() + timeout
        seen = []
        while time.monotonic() < end:
            try:
                ev = self.q.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            seen.append(ev)
            if ev[0] == name and match(ev[1]):
                return ev[1]
        raise AssertionError(f"no {name}: {seen}")


def b64(data):
    return base64.b64encode(data).decode()


@pytest.fixture
def ws(user):
    w = user.workspace("collab")
    r = user.put(f"/api/workspaces/{w['id']}/files/main.py", data=b"print(1)\n")
    assert r.status_code in (200, 201), r.text
    return w


def test_presence_join_move_leave(user, ws):
    a = Stream(user, ws["id"], "pageA")
    b = Stream(user, ws["id"], "pageB")
    joined = a.expect("presence_joined", lambda d: d["client"] == "pageB")
    assert joined["user"] == {"id": user.user["id"], "username": user.username}
    r = user.post(f"/api/workspaces/{ws['id']}/presence",
                  json={"client": "pageB", "path": "main.py", "line": 3, "column": 7,
                        "scroll": 120})
    assert r.status_code == 204, r.text
    got = a.expect("presence", lambda d: d["client"] == "pageB")
    assert (got["path"], got["line"], got["column"], got["scroll"]) == ("main.py", 3, 7, 120)
    assert got["user"]["username"] == user.username
    # a page that goes away says so (pagehide)...
    r = user.post(f"/api/workspaces/{ws['id']}/presence", json={"client": "pageB", "left": True})
    assert r.status_code == 204, r.text
    left = a.expect("presence_left", lambda d: d["client"] == "pageB")
    assert left["user"]["id"] == user.user["id"]
    b.close()
    a.close()


def test_presence_leaves_when_the_stream_closes(user, ws):
    """...and one that vanishes without a word leaves when its stream is found closed (at
    the latest two keepalives later: a write to a reset connection fails)."""
    a = Stream(user, ws["id"], "pageC")
    b = Stream(user, ws["id"], "pageD")
    a.expect("presence_joined", lambda d: d["client"] == "pageD")
    t0 = time.monotonic()
    b.close()
    left = a.expect("presence_left", lambda d: d["client"] == "pageD", timeout=70)
    assert left["user"]["id"] == user.user["id"]
    print(f"stream close noticed after {time.monotonic() - t0:.1f} s")
    a.close()


def test_presence_bad_input(user, ws, make_user):
    url = f"/api/workspaces/{ws['id']}/presence"
    assert error_code(user.post(url, json={"path": "main.py"})) == "invalid_field"
    assert error_code(user.post(url, json={"client": "a b"})) == "invalid_client"
    assert error_code(user.post(url, json={"client": "x" * 41})) == "invalid_client"
    assert error_code(user.post(url, json={"client": "a", "line": -1})) == "invalid_field"
    assert error_code(user.post(url, json={"client": "a", "line": "3"})) == "invalid_field"
    assert error_code(user.post(url, json={"client": "a", "line": 10**12})) == "invalid_field"
    assert error_code(user.post(url, json={"client": "a", "path": "../x"})) == "invalid_path"
    r = user.s.get(f"{user.server.url}/api/workspaces/{ws['id']}/events",
                   params={"client": "no/slash"}, timeout=10)
    assert r.status_code == 400 and error_code(r) == "invalid_client"
    # another user's workspace stays invisible
    other = make_user()
    assert other.post(url, json={"client": "a"}).status_code == 404
    assert requests.post(user.server.url + url, json={"client": "a"}).status_code == 401


def test_doc_start_relay_and_late_joiner(user, ws):
    url = f"/api/workspaces/{ws['id']}/docs/main.py"
    assert error_code(user.get(url)) == "no_doc"
    # an update before the document exists is refused: the page must start it
    r = user.post(url, json={"client": "pA", "doc": 1, "update": b64(b"u0")})
    assert r.status_code == 404 and error_code(r) == "no_doc"
    a = Stream(user, ws["id"], "pA")
    r = user.post(url, json={"client": "pA", "update": b64(b"SNAP"), "snapshot": True,
                             "covers": 0})
    assert r.status_code == 201, r.text
    first = r.json()["id"]
    assert r.json()["doc"] == first  # a document's id is that of the snapshot starting it
    # a second editor racing to start it loses and loads the first one's
    r = user.post(url, json={"client": "pB", "update": b64(b"OTHER"), "snapshot": True})
    assert r.status_code == 409 and error_code(r) == "doc_exists"
    ids = []
    for i in range(3):
        r = user.post(url, json={"client": "pB", "doc": first, "update": b64(b"upd%d" % i)})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
        ev = a.expect("doc_update", lambda d: d["id"] == ids[-1])
        assert ev["path"] == "main.py" and ev["client"] == "pB" and not ev["snapshot"]
        assert ev["doc"] == first
        assert base64.b64decode(ev["update"]) == b"upd%d" % i
    assert ids == sorted(ids) and ids[0] > first
    log = user.get(url).json()
    assert [base64.b64decode(u["update"]) for u in log["items"]] == [b"SNAP", b"upd0", b"upd1",
                                                                     b"upd2"]
    assert log["bytes"] == 4 + 3 * 4 and log["editable"] is True and log["doc"] == first
    after = user.get(url, params={"after": ids[0]}).json()["items"]
    assert [u["id"] for u in after] == ids[1:]
    assert error_code(user.get(url, params={"after": "x"})) == "bad_request"
    # compaction: a snapshot covering up to ids[1] replaces those; ids[2] stays
    r = user.post(url, json={"client": "pA", "doc": first, "update": b64(b"SNAP2"),
                             "snapshot": True, "covers": ids[1]})
    assert r.status_code == 201
    log = user.get(url).json()
    assert [base64.b64decode(u["update"]) for u in log["items"]] == [b"upd2", b"SNAP2"]
    assert log["bytes"] == 4 + 5
    a.close()


def test_doc_bad_input(user, ws):
    url = f"/api/workspaces/{ws['id']}/docs/main.py"
    assert error_code(user.post(url, json={"client": "p", "update": "!!notbase64"})) == \
        "invalid_field"
    assert error_code(user.post(url, json={"client": "p", "update": ""})) == "invalid_field"
    assert error_code(user.post(url, json={"client": "p"})) == "invalid_field"
    assert error_code(user.post(url, json={"client": "p", "update": b64(b"x"),
                                           "snapshot": "yes"})) == "invalid_field"
    assert error_code(user.post(url, json={"client": "p", "update": b64(b"x"),
                                           "covers": -1})) == "invalid_field"
    # only stored files have documents: that bounds how many a workspace can hold
    r = user.post(f"/api/workspaces/{ws['id']}/docs/nope.py",
                  json={"client": "p", "update": b64(b"x"), "snapshot": True})
    assert r.status_code == 404 and error_code(r) == "not_found"
    assert error_code(user.post(f"/api/workspaces/{ws['id']}/docs/..%2Fx",
                                json={"client": "p", "update": b64(b"x")})) == "invalid_path"


def test_doc_bounded_then_snapshot(server, user, ws):
    """The log is bounded by --collab-doc-bytes (default 1 MiB): past it, snapshot_needed;
    a snapshot that covers the log makes room again."""
    url = f"/api/workspaces/{ws['id']}/docs/main.py"
    big = b"A" * (400 << 10)
    r = user.post(url, json={"client": "p", "update": b64(big), "snapshot": True})
    assert r.status_code == 201
    doc = r.json()["doc"]
    last = user.post(url, json={"client": "p", "doc": doc, "update": b64(big)}).json()["id"]
    r = user.post(url, json={"client": "p", "doc": doc, "update": b64(big)})
    assert r.status_code == 409 and error_code(r) == "snapshot_needed"
    assert user.get(url).json()["bytes"] == 2 * len(big)  # nothing partial
    r = user.post(url, json={"client": "p", "doc": doc, "update": b64(b"small"),
                             "snapshot": True, "covers": last})
    assert r.status_code == 201
    assert user.get(url).json()["bytes"] == 5
    r = user.post(url, json={"client": "p", "doc": doc, "update": b64(b"B" * ((1 << 20) + 1))})
    assert r.status_code == 413 and error_code(r) == "too_large"
    # a large update is relayed by id (a bus notice is small): the event has no body
    ev = Stream(user, ws["id"], "pw")
    r = user.post(url, json={"client": "p", "doc": doc, "update": b64(b"C" * 10000)})
    got = ev.expect("doc_update", lambda d: d["id"] == r.json()["id"])
    assert "update" not in got
    ev.close()


def test_doc_reset_when_the_file_changes_elsewhere(user, ws):
    url = f"/api/workspaces/{ws['id']}/docs/main.py"
    r = user.post(url, json={"client": "p", "update": b64(b"S"), "snapshot": True})
    assert r.status_code == 201
    ev = Stream(user, ws["id"], "pr")
    # a co-editor's save (X-Pyroom-Doc: the document's id) keeps the document
    r = user.put(f"/api/workspaces/{ws['id']}/files/main.py", data=b"print(2)\n",
                 headers={"X-Pyroom-Doc": str(r.json()["doc"])})
    assert r.status_code == 200
    assert user.get(url).status_code == 200
    # any other save replaces the shared text: the document goes
    r = user.put(f"/api/workspaces/{ws['id']}/files/main.py", data=b"print(22)\n")
    assert r.status_code == 200
    ev.expect("doc_reset", lambda d: d["path"] == "main.py")
    assert error_code(user.get(url)) == "no_doc"
    assert user.post(url, json={"client": "p", "update": b64(b"S"), "snapshot": True}) \
        .status_code == 201
    # a terminal's write replaces the file: the document goes, the pages hear doc_reset
    t = Term(user, ws["id"])
    t.run("echo 'print(3)' > main.py")
    ev.expect("doc_reset", lambda d: d["path"] == "main.py")
    assert error_code(user.get(url)) == "no_doc"
    t.close()
    # so does a restore of an earlier version, and the reset comes before the change
    assert user.post(url, json={"client": "p", "update": b64(b"S"), "snapshot": True}) \
        .status_code == 201
    while not ev.q.empty():
        ev.q.get()
    r = user.post(f"/api/workspaces/{ws['id']}/restore", json={"path": "main.py", "version": 1})
    assert r.status_code == 200, r.text
    ev.expect("doc_reset", lambda d: d["path"] == "main.py")
    ev.expect("file_changed", lambda d: d["path"] == "main.py")  # after the reset
    assert error_code(user.get(url)) == "no_doc"
    # a delete drops it too
    assert user.post(url, json={"client": "p", "update": b64(b"S"), "snapshot": True}) \
        .status_code == 201
    assert user.delete(f"/api/workspaces/{ws['id']}/files/main.py").status_code == 204
    ev.expect("doc_reset", lambda d: d["path"] == "main.py")
    assert error_code(user.get(url)) == "no_doc"
    ev.close()


def test_a_co_edited_save_without_a_document_is_refused(user, ws):
    """A page's co-edited save (X-Pyroom-Doc: id) that comes after the document was dropped
    (the file was written elsewhere) must not write the old shared text over the new bytes:
    404 no_doc, nothing stored; the page then reloads the file."""
    url = f"/api/workspaces/{ws['id']}/docs/main.py"
    fu = f"/api/workspaces/{ws['id']}/files/main.py"
    doc = str(user.post(url, json={"client": "p", "update": b64(b"S"), "snapshot": True})
              .json()["doc"])
    etag = user.put(fu, data=b"shared(1)\n", headers={"X-Pyroom-Doc": doc}).json()["etag"]
    # a run (here: a plain save) replaces the file: the document goes
    new = user.put(fu, data=b"written elsewhere\n")
    assert new.status_code == 200
    for match in (etag, new.json()["etag"]):
        r = user.put(fu, data=b"shared(2)\n",
                     headers={"X-Pyroom-Doc": doc, "If-Match": f'"{match}"'})
        assert r.status_code == 404 and error_code(r) == "no_doc", r.text
    assert user.get(fu).content == b"written elsewhere\n"
    versions = user.get(fu + "?history=1").json()["items"]
    assert [v["etag"] for v in versions][0] == new.json()["etag"]


def test_nothing_meant_for_a_dropped_document_reaches_its_replacement(user, ws):
    """Issue 17's duplicated final newline: a page that has not yet heard that a file's
    document was dropped (a plain save, a run) posts an update, a compaction or a save for
    it after another page started the next document. The server must refuse them (404
    no_doc, nothing stored or relayed): the two documents' CRDT histories are unrelated, so
    an old update applied to the new document adds the old text again."""
    url = f"/api/workspaces/{ws['id']}/docs/main.py"
    fu = f"/api/workspaces/{ws['id']}/files/main.py"
    old = user.post(url, json={"client": "a", "update": b64(b"OLD"), "snapshot": True})
    assert old.status_code == 201
    old = old.json()["id"]
    assert user.put(fu, data=b"plain save\n").status_code == 200  # drops the document
    new = user.post(url, json={"client": "b", "update": b64(b"NEW"), "snapshot": True})
    assert new.status_code == 201
    new = new.json()["id"]
    ev = Stream(user, ws["id"], "watch")
    late = [{"client": "a", "doc": old, "update": b64(b"late update")},
            {"client": "a", "doc": old, "update": b64(b"late compaction"), "snapshot": True,
             "covers": new}]
    for body in late:
        r = user.post(url, json=body)
        assert r.status_code == 404 and error_code(r) == "no_doc", r.text
    r = user.put(fu, data=b"old shared text\n", headers={"X-Pyroom-Doc": str(old)})
    assert r.status_code == 404 and error_code(r) == "no_doc", r.text
    assert user.get(fu).content == b"plain save\n"
    log = user.get(url).json()
    assert log["doc"] == new
    assert [base64.b64decode(u["update"]) for u in log["items"]] == [b"NEW"]
    # the new document's own update, save and relay work; a malformed header is refused
    r = user.post(url, json={"client": "b", "doc": new, "update": b64(b"mine")})
    assert r.status_code == 201 and r.json()["doc"] == new
    got = ev.expect("doc_update", lambda d: d["client"] == "b")
    assert got["doc"] == new and got["id"] == r.json()["id"]
    ev.close()
    assert user.put(fu, data=b"new shared text\n",
                    headers={"X-Pyroom-Doc": str(new)}).status_code == 200
    for bad in ("", "x", "-1", "0", "1x", "+5"):
        r = user.put(fu, data=b"?", headers={"X-Pyroom-Doc": bad})
        assert r.status_code == 400 and error_code(r) == "bad_request", bad
    assert user.get(fu).content == b"new shared text\n"
    for body in ({"client": "b", "update": b64(b"x")},
                 {"client": "b", "doc": "1", "update": b64(b"x")},
                 {"client": "b", "doc": 0, "update": b64(b"x")}):
        assert error_code(user.post(url, json=body)) == "invalid_field"


def test_a_removed_member_loses_the_documents_at_once(server, user, ws, make_user):
    """A removed co-editor's event stream (which carries doc_update) ends at once, and the
    documents answer 404 to them from then on."""
    friend = make_user()
    share(user, ws["id"], friend, "editor")
    url = f"/api/workspaces/{ws['id']}/docs/main.py"
    doc = friend.post(url, json={"client": "f", "update": b64(b"S"), "snapshot": True})
    assert doc.status_code == 201
    doc = doc.json()["doc"]
    r = friend.s.get(server.url + f"/api/workspaces/{ws['id']}/events?client=f", stream=True,
                     timeout=DEADLINE)
    assert r.status_code == 200
    lines = r.iter_lines()
    u = user.post(url, json={"client": "o", "doc": doc, "update": b64(b"typed")})
    assert u.status_code == 201
    seen = b""
    while b"doc_update" not in seen:
        seen += next(lines) + b"\n"
    assert user.delete(f"/api/workspaces/{ws['id']}/members/{friend.user['id']}") \
        .status_code == 204
    end = time.monotonic() + DEADLINE
    with pytest.raises((StopIteration, requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ConnectionError)):
        while time.monotonic() < end:
            line = next(lines)
            assert b"doc_update" not in line, "a removed member still hears the document"
    assert time.monotonic() < end, "the stream stayed open after the removal"
    r.close()
    assert friend.get(url).status_code == 404
    assert friend.post(url, json={"client": "f", "doc": doc, "update": b64(b"x")}) \
        .status_code == 404


def test_doc_needs_access(user, ws, make_user):
    url = f"/api/workspaces/{ws['id']}/docs/main.py"
    other = make_user()
    assert other.get(url).status_code == 404
    assert other.post(url, json={"client": "p", "update": b64(b"x"),
                                 "snapshot": True}).status_code == 404


def test_terminal_watch_is_read_only(user, ws):
    # nothing to watch before a terminal lives: watching never starts one
    with pytest.raises(Exception) as e:
        Term(user, ws["id"], name="w", mode="view")
    assert getattr(e.value, "status_code", None) == 409
    t = Term(user, ws["id"], name="w")
    t.run("echo before-$((6*7))")
    v = Term(user, ws["id"], name="w", mode="view")
    v.expect(rb"before-42")  # the scrollback
    t.send("echo live-$((7*7))\n")
    v.expect(rb"live-49")
    # a watcher's keystrokes are refused (told once) and never reach the shell
    v.send("echo typed-$((8*8))\n")
    msg = v.expect_control("error")
    assert msg["code"] == "read_only"
    t.send("echo after-$((9*9))\n")
    t.expect(rb"after-81")
    v.expect(rb"after-81")
    assert b"typed-" not in t.buf and b"typed-" not in v.buf
    v.close()
    t.close()


def share(owner, ws, who, role):
    r = owner.post(f"/api/workspaces/{ws}/members", json={"username": who.username, "role": role})
    assert r.status_code in (200, 201), r.text


def test_a_viewer_follows_but_does_not_edit(user, ws, make_user):
    viewer, editor = make_user(), make_user()
    share(user, ws["id"], viewer, "viewer")
    share(user, ws["id"], editor, "editor")
    url = f"/api/workspaces/{ws['id']}/docs/main.py"
    sv = Stream(viewer, ws["id"], "viewer1")
    # the viewer's presence is published like anyone's, with who they are
    assert viewer.post(f"/api/workspaces/{ws['id']}/presence",
                       json={"client": "viewer1", "path": "main.py", "line": 1}).status_code == 204
    # an editor co-edits; the viewer hears the updates and reads the log, read-only
    doc = editor.post(url, json={"client": "ed", "update": b64(b"S"), "snapshot": True})
    assert doc.status_code == 201
    doc = doc.json()["doc"]
    r = editor.post(url, json={"client": "ed", "doc": doc, "update": b64(b"typed")})
    assert r.status_code == 201
    got = sv.expect("doc_update", lambda d: d["id"] == r.json()["id"])
    assert base64.b64decode(got["update"]) == b"typed"
    log = viewer.get(url).json()
    assert log["editable"] is False and len(log["items"]) == 2
    assert editor.get(url).json()["editable"] is True
    r = viewer.post(url, json={"client": "viewer1", "doc": doc, "update": b64(b"mine")})
    assert r.status_code == 403 and error_code(r) == "read_only"
    assert len(user.get(url).json()["items"]) == 2  # nothing stored
    sv.close()


def test_a_viewer_watches_the_terminal_and_cannot_type(user, ws, make_user):
    viewer = make_user()
    share(user, ws["id"], viewer, "viewer")
    with pytest.raises(Exception) as e:
        Term(viewer, ws["id"], name="v")  # mode=edit is for editors
    assert getattr(e.value, "status_code", None) == 403
    r = viewer.get(f"/api/workspaces/{ws['id']}/terminal?name=v",
                   headers={"Origin": viewer.server.url})
    assert r.status_code == 403 and error_code(r) == "read_only"
    with pytest.raises(Exception) as e:
        Term(viewer, ws["id"], name="v", mode="view")  # nothing live to watch, none started
    assert getattr(e.value, "status_code", None) == 409
    t = Term(user, ws["id"], name="v")
    t.run("echo owner-$((5*5))")
    v = Term(viewer, ws["id"], name="v", mode="view")
    v.expect(rb"owner-25")
    v.send("touch /home/user/viewer-was-here\n")
    assert v.expect_control("error")["code"] == "read_only"
    assert b"R-1" in t.run("test -e viewer-was-here; echo R-$?")  # the echo shows R-$?
    # removing the viewer ends their watch at once
    r = user.delete(f"/api/workspaces/{ws['id']}/members/{viewer.user['id']}")
    assert r.status_code == 204, r.text
    assert v.wait_closed()
    t.close()


def test_a_removed_editor_loses_their_terminal_at_once(user, ws, make_user):
    """An editor's own shell (not only a watch) ends when they are removed, and they cannot
    open one again."""
    friend = make_user()
    share(user, ws["id"], friend, "editor")
    t = Term(friend, ws["id"], name="f")
    assert b"friend-42" in t.run("echo friend-$((6*7))")
    r = user.delete(f"/api/workspaces/{ws['id']}/members/{friend.user['id']}")
    assert r.status_code == 204, r.text
    assert t.wait_closed()
    with pytest.raises(Exception) as e:
        Term(friend, ws["id"], name="f")
    assert getattr(e.value, "status_code", None) == 404
