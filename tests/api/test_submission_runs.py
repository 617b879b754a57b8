"""Runs in the review workflow: the check run at submission time and reviewers' re-runs."""
from conftest import Client, Server, error_code


def put(c, w, path, text):
    r = c.put(f"/api/workspaces/{w['id']}/files/{path}", data=text.encode())
    assert r.status_code in (200, 201), r.text


def test_submission_carries_its_run_and_reviewer_reruns_the_snapshot(user, make_user):
    w = user.workspace()
    put(user, w, "main.py", "print('v1')\n")
    r = user.post(f"/api/workspaces/{w['id']}/submissions", json={"message": "done"})
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["run"]["status"] == "ok" and sub["run"]["stdout"] == "v1\n"
    # The check run saved nothing back and the workspace moves on.
    put(user, w, "main.py", "print('v2')\n")
    reviewer = make_user("reviewer")
    rr = reviewer.post(f"/api/submissions/{sub['id']}/runs?wait=1", json={})
    assert rr.status_code == 200, rr.text
    assert rr.json()["stdout"] == "v1\n"  # the snapshot, not the workspace
    assert reviewer.get(f"/api/runs/{rr.json()['id']}").status_code == 200
    assert user.get(f"/api/runs/{rr.json()['id']}").status_code == 200  # the author too
    r = user.post(f"/api/submissions/{sub['id']}/runs", json={})
    assert r.status_code == 403 and error_code(r) == "forbidden"
    other = make_user()
    assert other.get(f"/api/runs/{rr.json()['id']}").status_code == 404


def test_require_passing_run_refuses_a_failing_submission():
    srv = Server(extra=["--require-passing-run"]).start()
    try:
        c = Client(srv)
        w = c.workspace()
        put(c, w, "main.py", "raise SystemExit('not yet')\n")
        r = c.post(f"/api/workspaces/{w['id']}/submissions", json={"message": "try"})
        assert r.status_code == 422 and error_code(r) == "run_failed"
        assert "not yet" in r.json()["run"]["stderr"]
        assert c.get("/api/submissions?mine=1").json()["items"] == []
        put(c, w, "main.py", "print('fine')\n")
        r = c.post(f"/api/workspaces/{w['id']}/submissions", json={"message": "now"})
        assert r.status_code == 201 and r.json()["run"]["status"] == "ok"
    finally:
        srv.stop()
