"""Passwords: changing one's own (the current one asked, every session ended, a new one for
this browser), an administrator's reset (a temporary password shown once) and accounts an
administrator creates."""
import re

import requests

from conftest import PASSWORD, Client, error_code

NEW = "a much better one 2"


def test_change_own_password_ends_other_sessions_and_keeps_this_one(server, user):
    other = Client(server, username=user.username, register=False)
    assert other.login().status_code == 200
    old_csrf = user.csrf
    r = user.post("/api/auth/password", json={"current": PASSWORD, "new": NEW})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["username"] == user.username
    user._session(r)
    assert user.csrf != old_csrf
    # This browser goes on with its new session; the other one is signed out.
    assert user.get("/api/auth/me").status_code == 200
    assert other.get("/api/auth/me").status_code == 401
    # The old password no longer signs in; the new one does.
    fresh = Client(server, username=user.username, password=PASSWORD, register=False)
    assert fresh.login().status_code == 401
    fresh.password = NEW
    assert fresh.login().status_code == 200


def test_change_own_password_wrong_current_and_policy(server, user):
    r = user.post("/api/auth/password", json={"current": "not my password", "new": NEW})
    assert r.status_code == 403 and error_code(r) == "wrong_password"
    # A wrong current password does not sign the user out (the page stays usable).
    assert user.get("/api/auth/me").status_code == 200
    r = user.post("/api/auth/password", json={"current": PASSWORD, "new": "short"})
    assert r.status_code == 400 and error_code(r) == "invalid_field"
    r = user.post("/api/auth/password", json={"current": PASSWORD})
    assert r.status_code == 400 and error_code(r) == "invalid_field"
    r = user.post("/api/auth/password", json={"current": PASSWORD, "new": NEW}, csrf=False)
    assert r.status_code == 403 and error_code(r) == "csrf"
    r = requests.post(server.url + "/api/auth/password", json={"current": PASSWORD, "new": NEW})
    assert r.status_code == 401 and error_code(r) == "unauthenticated"
    # Still the old password: nothing was changed by the refused attempts.
    again = Client(server, username=user.username, register=False)
    assert again.login().status_code == 200


def test_guessing_the_current_password_is_rate_limited(server, user):
    codes = []
    for i in range(40):
        r = user.post("/api/auth/password", json={"current": f"guess number {i}", "new": NEW})
        codes.append(r.status_code)
        if r.status_code == 429:
            assert error_code(r) == "rate_limited" and int(r.headers["Retry-After"]) >= 1
            break
    assert codes[-1] == 429, codes
    assert set(codes[:-1]) == {403}


def test_admin_resets_a_password_with_a_temporary_one(server, admin, user):
    r = admin.post(f"/api/admin/users/{user.user['id']}/password", json={})
    assert r.status_code == 200, r.text
    temp = r.json()["password"]
    assert re.fullmatch(r"[A-Za-z2-9]{4}(-[A-Za-z2-9]{4}){3}", temp), temp
    # The user's session ended; the temporary password signs in, the old one does not.
    assert user.get("/api/auth/me").status_code == 401
    assert user.login().status_code == 401
    user.password = temp
    assert user.login().status_code == 200
    # Each reset makes another one.
    r2 = admin.post(f"/api/admin/users/{user.user['id']}/password", json={})
    assert r2.json()["password"] != temp
    audit = admin.get("/api/admin/audit").json()["items"]
    assert any(a["action"] == "password_reset" and a["target"] == f"user:{user.user['id']}"
               for a in audit)


def test_admin_reset_rules(server, admin, user, make_user):
    r = admin.post(f"/api/admin/users/{user.user['id']}/password", json={"password": "short"})
    assert r.status_code == 400 and error_code(r) == "invalid_field"
    r = admin.post(f"/api/admin/users/{user.user['id']}/password", json={"password": NEW})
    assert r.status_code == 200 and r.json()["password"] == NEW
    r = admin.post(f"/api/admin/users/{admin.user['id']}/password", json={})
    assert r.status_code == 409 and error_code(r) == "conflict"
    r = admin.post("/api/admin/users/999999/password", json={})
    assert r.status_code == 404 and error_code(r) == "not_found"
    reviewer = make_user("reviewer")
    r = reviewer.post(f"/api/admin/users/{user.user['id']}/password", json={})
    assert r.status_code == 403 and error_code(r) == "forbidden"


def test_admin_creates_accounts(server, admin, user):
    r = admin.post("/api/admin/users", json={"username": "made_by_admin", "role": "reviewer"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["user"]["role"] == "reviewer" and body["user"]["username"] == "made_by_admin"
    c = Client(server, username="made_by_admin", password=body["password"], register=False)
    assert c.login().status_code == 200
    r = admin.post("/api/admin/users", json={"username": "made_with_pw", "password": NEW})
    assert r.status_code == 201 and r.json()["user"]["role"] == "submitter"
    r = admin.post("/api/admin/users", json={"username": "MADE_BY_ADMIN"})
    assert r.status_code == 409 and error_code(r) == "exists"
    r = admin.post("/api/admin/users", json={"username": "x"})
    assert r.status_code == 400 and error_code(r) == "invalid_field"
    r = admin.post("/api/admin/users", json={"username": "okname", "role": "king"})
    assert r.status_code == 400 and error_code(r) == "invalid_field"
    r = user.post("/api/admin/users", json={"username": "sneaky"})
    assert r.status_code == 403 and error_code(r) == "forbidden"
