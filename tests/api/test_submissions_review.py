"""The review loop (issue 19): a reviewer re-runs any file of a submission with stdin and an
expected output; a resubmission carries the earlier comments onto its lines; the unread
notices of decisions, comments and new submissions."""
import pytest

from conftest import error_code


def put(c, ws, path, text):
    r = c.put(f"/api/workspaces/{ws['id']}/files/{path}", data=text.encode())
    assert r.status_code in (200, 201), r.text


def submit(c, ws, message="please review"):
    r = c.post(f"/api/workspaces/{ws['id']}/submissions", json={"message": message})
    assert r.status_code == 201, r.text
    return r.json()


def rerun(c, sid, status=200, **body):
    r = c.post(f"/api/submissions/{sid}/runs?wait=1", json=body)
    assert r.status_code == status, r.text
    return r.json()


def check_of(c, sid, run_id):
    r = c.get(f"/api/submissions/{sid}/runs/{run_id}")
    assert r.status_code == 200, r.text
    return r.json()


def unread_for(c, sid):
    """The caller's unread notices about submission sid."""
    r = c.get("/api/notifications?unread=1&limit=200")
    assert r.status_code == 200, r.text
    return [n for n in r.json()["items"] if n["submission_id"] == sid]


@pytest.fixture
def reviewer(make_user):
    return make_user("reviewer")


ECHO = "import sys\nname = sys.stdin.readline().strip()\nprint(f'hello {name}  ')\n"


def test_rerun_of_any_file_with_stdin_and_expected_output(user, reviewer):
    ws = user.workspace("greet")
    put(user, ws, "main.py", "print('main')\n")
    put(user, ws, "tools/echo.py", ECHO)
    s = submit(user, ws)
    assert s["entry"] == "main.py"
    # The live workspace moves on; the re-run is of the snapshot.
    put(user, ws, "tools/echo.py", "print('changed after submitting')\n")

    run = rerun(reviewer, s["id"], entry="tools/echo.py", stdin="Ada\n",
                expected_output="hello Ada\n")
    assert run["entry"] == "tools/echo.py" and run["stdout"] == "hello Ada  \n"
    got = check_of(reviewer, s["id"], run["id"])
    # trim (the default) ignores the two trailing spaces at the line's end.
    assert got["check"]["pass"] is True and got["check"]["compare"] == "trim"
    assert got["check"]["reason"] is None and got["check"]["difference"] is None

    run = rerun(reviewer, s["id"], entry="tools/echo.py", stdin="Ada\n",
                expected_output="hello Ada\n", compare="exact")
    got = check_of(reviewer, s["id"], run["id"])["check"]
    assert got["pass"] is False and got["compare"] == "exact"
    assert got["difference"] == {"line": 1, "expected": "hello Ada", "actual": "hello Ada  "}

    run = rerun(reviewer, s["id"], entry="tools/echo.py", stdin="Bob\n",
                expected_output="hello Ada")
    got = check_of(reviewer, s["id"], run["id"])["check"]
    assert got["pass"] is False and got["reason"] == "the output differs"
    assert got["difference"]["actual"] == "hello Bob"

    # No expected output: a plain re-run, with no check; the default entry is main.py.
    run = rerun(reviewer, s["id"])
    assert run["entry"] == "main.py" and run["stdout"] == "main\n"
    assert check_of(reviewer, s["id"], run["id"])["check"] is None
    # The author reads the runs of their submission, with the check.
    assert check_of(user, s["id"], run["id"])["id"] == run["id"]


def test_matching_output_of_a_failing_program_does_not_pass(user, reviewer):
    ws = user.workspace()
    put(user, ws, "main.py", "print('42')\nraise SystemExit(3)\n")
    s = submit(user, ws)
    run = rerun(reviewer, s["id"], expected_output="42")
    assert run["status"] == "error"
    got = check_of(reviewer, s["id"], run["id"])["check"]
    assert got["pass"] is False and "status ok" in got["reason"]


def test_rerun_bad_input(user, reviewer, server):
    ws = user.workspace()
    put(user, ws, "main.py", "print(1)\n")
    s = submit(user, ws)
    sid = s["id"]
    for body, code in [
        ({"entry": "nope.py"}, "invalid_field"),
        ({"entry": "../etc/passwd"}, "invalid_path"),
        ({"expected_output": 5}, "invalid_field"),
        ({"expected_output": "x", "compare": "fuzzy"}, "invalid_field"),
        ({"compare": "exact"}, "invalid_field"),
    ]:
        r = reviewer.post(f"/api/submissions/{sid}/runs", json=body)
        assert r.status_code == 400 and error_code(r) == code, (body, r.text)
    # Longer than a run may print (--run-output, 1 MiB by default): it could never match.
    r = reviewer.post(f"/api/submissions/{sid}/runs", json={"expected_output": "x" * (1 << 20 + 1)})
    assert r.status_code == 413 and error_code(r) == "too_large"


def test_rerun_and_runs_are_scoped(user, reviewer, make_user):
    ws = user.workspace()
    put(user, ws, "main.py", "print(1)\n")
    s = submit(user, ws)
    other = make_user()
    # A submitter may not re-run anyone's submission, their own included.
    for c in (other, user):
        r = c.post(f"/api/submissions/{s['id']}/runs", json={"expected_output": "1"})
        assert r.status_code == 403 and error_code(r) == "forbidden"
    run = rerun(reviewer, s["id"], expected_output="1")
    # Another submitter does not see the submission's runs.
    r = other.get(f"/api/submissions/{s['id']}/runs/{run['id']}")
    assert r.status_code == 404 and error_code(r) == "not_found"
    # A run of another submission is not found under this one.
    ws2 = other.workspace()
    put(other, ws2, "main.py", "print(2)\n")
    s2 = submit(other, ws2)
    r = reviewer.get(f"/api/submissions/{s2['id']}/runs/{run['id']}")
    assert r.status_code == 404 and error_code(r) == "not_found"


def test_resubmission_carries_comments_onto_moved_lines(user, reviewer):
    ws = user.workspace("carry")
    put(user, ws, "main.py", "a = 1\nb = 2\nprint(a + b)\n")
    put(user, ws, "old.py", "x = 1\n")
    s1 = submit(user, ws)
    for body in [{"body": "name b better", "path": "main.py", "line": 2},
                 {"body": "this line goes", "path": "main.py", "line": 1},
                 {"body": "drop this file", "path": "old.py", "line": 1},
                 {"body": "overall fine"}]:
        r = reviewer.post(f"/api/submissions/{s1['id']}/comments", json=body)
        assert r.status_code == 201, r.text
    r = reviewer.post(f"/api/submissions/{s1['id']}/review",
                      json={"decision": "reject", "comment": "rename b"})
    assert r.status_code == 200, r.text

    # Two lines added above, line 1 changed, old.py removed.
    put(user, ws, "main.py", "# header\n\nfirst = 1\nb = 2\nprint(first + b)\n")
    assert user.delete(f"/api/workspaces/{ws['id']}/files/old.py").status_code in (200, 204)
    s2 = submit(user, ws, "fixed")
    assert s2["previous_id"] == s1["id"]
    got = reviewer.get(f"/api/submissions/{s2['id']}").json()
    earlier = {e.get("body", e.get("comment")): e for e in got["earlier_comments"]}
    moved = earlier["name b better"]
    assert (moved["line"], moved["original_line"], moved["outdated"]) == (4, 2, False)
    assert moved["submission_id"] == s1["id"]
    changed = earlier["this line goes"]
    assert changed["line"] is None and changed["original_line"] == 1 and changed["outdated"]
    gone = earlier["drop this file"]
    assert gone["line"] is None and gone["outdated"]
    general = earlier["overall fine"]
    assert general["path"] is None and not general["outdated"]
    decision = earlier["rename b"]
    assert decision["decision"] == "reject" and decision["submission_id"] == s1["id"]
    # The author sees the same carried comments; the first submission carries none.
    assert len(user.get(f"/api/submissions/{s2['id']}").json()["earlier_comments"]) == 5
    assert reviewer.get(f"/api/submissions/{s1['id']}").json()["earlier_comments"] == []


def test_notifications_of_decisions_comments_and_submissions(user, reviewer, make_user):
    ws = user.workspace("notes")
    put(user, ws, "main.py", "print(1)\n")
    s = submit(user, ws)
    # Reviewers hear of the new submission; its author does not hear of their own act.
    new = unread_for(reviewer, s["id"])
    assert [n["kind"] for n in new] == ["submission"]
    assert new[0]["actor"]["username"] == user.username and new[0]["workspace_name"] == "notes"
    assert unread_for(user, s["id"]) == []

    r = reviewer.post(f"/api/submissions/{s['id']}/comments", json={"body": "why print?"})
    assert r.status_code == 201
    r = reviewer.post(f"/api/submissions/{s['id']}/review", json={"decision": "approve"})
    assert r.status_code == 200
    kinds = sorted(n["kind"] for n in unread_for(user, s["id"]))
    assert kinds == ["comment", "decision"]
    assert all(n["status"] == "approved" for n in unread_for(user, s["id"]))
    before = user.get("/api/notifications").json()["unread"]
    assert before >= 2

    # The author answers: the reviewer who commented hears of it.
    r = user.post(f"/api/submissions/{s['id']}/comments", json={"body": "to show it works"})
    assert r.status_code == 201
    assert "comment" in [n["kind"] for n in unread_for(reviewer, s["id"])]

    # Someone else cannot read or mark the author's notices.
    other = make_user()
    assert unread_for(other, s["id"]) == []
    r = other.post("/api/notifications/read", json={"submission_id": s["id"]})
    assert r.status_code == 200 and r.json()["marked"] == 0
    mine = unread_for(user, s["id"])
    r = other.post("/api/notifications/read", json={"id": mine[0]["id"]})
    assert r.status_code == 200 and r.json()["marked"] == 0
    assert len(unread_for(user, s["id"])) == 2

    # Opening the submission marks its notices read, and only those.
    r = user.post("/api/notifications/read", json={"submission_id": s["id"]})
    assert r.status_code == 200 and r.json()["marked"] == 2
    assert r.json()["unread"] == before - 2
    assert unread_for(user, s["id"]) == []
    listed = [n for n in user.get("/api/notifications").json()["items"] if n["submission_id"] == s["id"]]
    assert len(listed) == 2 and all(n["read"] for n in listed)


def test_a_withdrawal_takes_back_the_reviewers_notice(user, reviewer):
    ws = user.workspace()
    put(user, ws, "main.py", "print(1)\n")
    s = submit(user, ws)
    assert [n["kind"] for n in unread_for(reviewer, s["id"])] == ["submission"]
    r = user.post(f"/api/submissions/{s['id']}/withdraw")
    assert r.status_code == 200, r.text
    assert unread_for(reviewer, s["id"]) == []


def test_notifications_bad_input(user):
    for body in [{"submission_id": "1"}, {"id": -3}, {"id": 1.5}]:
        r = user.post("/api/notifications/read", json=body)
        assert r.status_code == 400 and error_code(r) == "invalid_field", body
    r = user.post("/api/notifications/read", data=b"[1]", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def user_events(c):
    """The caller's own event stream (GET /api/events), read in a thread."""
    from test_terminals import Events
    return Events(c, None, path="/api/events")


def test_notices_are_pushed_on_the_user_s_own_stream(user, reviewer, make_user):
    """A comment or decision by the reviewer reaches the author's open stream at once, a
    new submission the reviewer's and a withdrawal takes it back there; a stranger's stream
    hears none of it. Order within a stream is the order of the pushes, so the stranger's
    own notice, sent last, proves nothing about the others came before it."""
    stranger = make_user()
    author_ev, reviewer_ev, stranger_ev = (user_events(c) for c in (user, reviewer, stranger))
    try:
        ws = user.workspace("pushed")
        put(user, ws, "main.py", "print(1)\n")
        s = submit(user, ws)
        reviewer_ev.expect_data("notification", kind="submission", submission_id=s["id"],
                                taken_back=False)
        r = reviewer.post(f"/api/submissions/{s['id']}/comments", json={"body": "why print?"})
        assert r.status_code == 201, r.text
        author_ev.expect_data("notification", kind="comment", submission_id=s["id"])
        r = reviewer.post(f"/api/submissions/{s['id']}/review", json={"decision": "approve"})
        assert r.status_code == 200, r.text
        author_ev.expect_data("notification", kind="decision", submission_id=s["id"])
        assert [n["kind"] for n in unread_for(user, s["id"])] == ["decision", "comment"]

        w2 = user.workspace("taken back")
        put(user, w2, "main.py", "print(2)\n")
        s2 = submit(user, w2)
        reviewer_ev.expect_data("notification", submission_id=s2["id"], taken_back=False)
        assert user.post(f"/api/submissions/{s2['id']}/withdraw").status_code == 200
        reviewer_ev.expect_data("notification", submission_id=s2["id"], taken_back=True)

        # The stranger's own submission gets a comment: the first thing on their stream.
        ws3 = stranger.workspace("mine")
        put(stranger, ws3, "main.py", "print(3)\n")
        s3 = submit(stranger, ws3)
        r = reviewer.post(f"/api/submissions/{s3['id']}/comments", json={"body": "ok"})
        assert r.status_code == 201, r.text
        seen = stranger_ev.expect_data("notification", submission_id=s3["id"])
        assert seen == [("notification", {"kind": "comment", "submission_id": s3["id"],
                                          "taken_back": False})]
    finally:
        for ev in (author_ev, reviewer_ev, stranger_ev):
            ev.close()


def test_own_stream_needs_a_login_counts_against_the_cap_and_ends_at_logout(server):
    from conftest import Client, Server
    from test_terminals import wait_for
    r = Client(server, register=False).get("/api/events")
    assert r.status_code == 401 and error_code(r) == "unauthenticated"
    srv = Server(extra=["--max-event-streams-per-user", "1"]).start()
    first = None
    try:
        c = Client(srv)
        first = user_events(c)
        r = c.get("/api/events", stream=True)
        assert r.status_code == 429 and error_code(r) == "rate_limited"
        r.close()
        assert c.post("/api/auth/logout").status_code == 204
        wait_for(lambda: not first.t.is_alive())
    finally:
        if first:
            first.close()
        assert srv.stop() == 0
