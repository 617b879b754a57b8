"""Accounts, sessions, CSRF, API tokens, roles, rate limits and the HTTP basics."""
import requests

from conftest import PASSWORD, Client, Server, error_code


def test_health_and_ready(server):
    r = requests.get(server.url + "/api/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = requests.get(server.url + "/api/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_security_headers(server):
    r = requests.get(server.url + "/api/health")
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert len(r.headers["X-Request-Id"]) == 16


def test_unknown_endpoint_and_method(server):
    r = requests.get(server.url + "/api/nope")
    assert r.status_code == 404 and error_code(r) == "not_found"
    r = requests.delete(server.url + "/api/health")
    assert r.status_code == 405 and error_code(r) == "method_not_allowed"


def test_first_user_is_admin_next_is_submitter(admin, user):
    assert admin.user["role"] == "admin"
    assert user.user["role"] == "submitter"


def test_register_validation(server, admin):
    s = requests.Session()
    u = server.url + "/api/auth/register"
    r = s.post(u, json={"username": "x", "password": PASSWORD})
    assert r.status_code == 400 and error_code(r) == "invalid_field"
    r = s.post(u, json={"username": "bad name!", "password": PASSWORD})
    assert r.status_code == 400
    r = s.post(u, json={"username": "shortpw", "password": "1234567"})
    assert r.status_code == 400 and "8" in r.json()["error"]["message"]
    r = s.post(u, json={"username": "nopw"})
    assert r.status_code == 400 and error_code(r) == "invalid_field"
    r = s.post(u, json={"username": 5, "password": PASSWORD})
    assert r.status_code == 400
    r = s.post(u, data="{not json")
    assert r.status_code == 400 and error_code(r) == "invalid_json"
    r = s.post(u, data='{"username":"dupkey","username":"dupkey2","password":"%s"}' % PASSWORD)
    assert r.status_code == 400 and error_code(r) == "invalid_json"
    r = s.post(u, json=["a"])
    assert r.status_code == 400


def test_register_duplicate_is_409_ignoring_case(server, user):
    r = requests.post(server.url + "/api/auth/register",
                      json={"username": user.username.upper(), "password": PASSWORD})
    assert r.status_code == 409 and error_code(r) == "exists"


def test_login_same_error_for_unknown_and_wrong(server, user):
    u = server.url + "/api/auth/login"
    a = requests.post(u, json={"username": user.username, "password": "wrong password"})
    b = requests.post(u, json={"username": "nobody_" + user.username, "password": "whatever1"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()
    c = Client(server, username=user.username, register=False)
    r = c.login()
    assert r.status_code == 200 and r.json()["user"]["username"] == user.username
    assert "HttpOnly" in r.headers["Set-Cookie"] and "SameSite=Lax" in r.headers["Set-Cookie"]


def test_me_and_logout_revokes(server, user):
    r = user.get("/api/auth/me")
    assert r.status_code == 200 and r.json()["user"]["id"] == user.user["id"]
    assert r.json()["csrf_token"] == user.csrf
    cookie = user.s.cookies.get("pyroom_session")
    assert cookie and cookie.startswith("pyrs_")
    assert user.post("/api/auth/logout").status_code == 204
    # The old cookie no longer works even if a client keeps sending it.
    r = requests.get(server.url + "/api/auth/me", cookies={"pyroom_session": cookie})
    assert r.status_code == 401 and error_code(r) == "unauthenticated"


def test_unauthenticated(server):
    r = requests.get(server.url + "/api/workspaces")
    assert r.status_code == 401 and error_code(r) == "unauthenticated"
    r = requests.get(server.url + "/api/auth/me", cookies={"pyroom_session": "pyrs_forged"})
    assert r.status_code == 401


def test_csrf_missing_and_wrong(user):
    r = user.post("/api/workspaces", json={"name": "x"}, csrf=False)
    assert r.status_code == 403 and error_code(r) == "csrf"
    r = user.post("/api/workspaces", json={"name": "x"}, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403 and error_code(r) == "csrf"
    # Reads need no token.
    assert user.get("/api/workspaces").status_code == 200


def test_api_tokens(server, user):
    r = user.post("/api/auth/tokens", json={"name": "script"})
    assert r.status_code == 201
    tok = r.json()
    assert tok["token"].startswith("pyr_")
    bearer = {"Authorization": "Bearer " + tok["token"]}
    # Bearer requests need no CSRF token.
    r = requests.post(server.url + "/api/workspaces", json={"name": "via token"}, headers=bearer)
    assert r.status_code == 201, r.text
    listed = user.get("/api/auth/tokens").json()["items"]
    assert [t["name"] for t in listed] == ["script"] and "token" not in listed[0]
    assert user.delete(f"/api/auth/tokens/{tok['id']}").status_code == 204
    r = requests.get(server.url + "/api/workspaces", headers=bearer)
    assert r.status_code == 401
    r = requests.get(server.url + "/api/workspaces", headers={"Authorization": "Bearer pyr_x"})
    assert r.status_code == 401


def test_admin_endpoints_forbidden_to_others(make_user):
    for role in ("submitter", "reviewer"):
        c = make_user(role)
        assert c.get("/api/admin/users").status_code == 403
        assert c.get("/api/admin/audit").status_code == 403
        r = c.patch(f"/api/admin/users/{c.user['id']}", json={"role": "admin"})
        assert r.status_code == 403 and error_code(r) == "forbidden"


def test_admin_role_change_and_disable(admin, make_user, server):
    c = make_user()
    r = admin.patch(f"/api/admin/users/{c.user['id']}", json={"role": "reviewer"})
    assert r.status_code == 200 and r.json()["role"] == "reviewer"
    assert c.get("/api/auth/me").json()["user"]["role"] == "reviewer"
    r = admin.patch(f"/api/admin/users/{c.user['id']}", json={"role": "king"})
    assert r.status_code == 400
    r = admin.patch(f"/api/admin/users/{c.user['id']}", json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert c.get("/api/auth/me").status_code == 401  # sessions ended
    r = c.login()  # and no new ones; the right password learns why (issue 19, B9)
    assert r.status_code == 403 and error_code(r) == "account_disabled"
    c.password = "not the password"
    r = c.login()  # a wrong password learns nothing about the account
    assert r.status_code == 401 and error_code(r) == "bad_credentials"
    r = admin.patch(f"/api/admin/users/{admin.user['id']}", json={"role": "submitter"})
    assert r.status_code == 409
    users = admin.get("/api/admin/users?limit=200").json()["items"]
    assert any(u["id"] == c.user["id"] and u["disabled"] for u in users)
    audit = admin.get("/api/admin/audit").json()["items"]
    actions = {a["action"] for a in audit}
    assert {"register", "role_change", "user_disable"} <= actions


def test_body_too_large(server, user):
    big = b"x" * (2 * 1024 * 1024 + 1)
    r = user.put("/api/workspaces/1/files/big.txt", data=big)
    assert r.status_code == 413 and error_code(r) == "too_large"


def test_login_rate_limit():
    srv = Server(extra=["--login-rate", "3"]).start()
    try:
        c = Client(srv)
        u = srv.url + "/api/auth/login"
        codes = [requests.post(u, json={"username": c.username, "password": "wrong pass"}).status_code
                 for _ in range(4)]
        assert codes[:3] == [401, 401, 401] and codes[3] == 429
        r = requests.post(u, json={"username": c.username, "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert error_code(r) == "rate_limited"
    finally:
        assert srv.stop() == 0


def test_registration_closed():
    srv = Server(extra=["--registration", "closed"]).start()
    try:
        first = Client(srv)  # the first account is always allowed: it is the admin
        assert first.user["role"] == "admin"
        r = requests.post(srv.url + "/api/auth/register",
                          json={"username": "second", "password": PASSWORD})
        assert r.status_code == 403 and error_code(r) == "registration_closed"
    finally:
        srv.stop()


def test_trust_proxy_keys_login_limits_on_the_forwarded_address():
    srv = Server(extra=["--login-rate", "2", "--trust-proxy"]).start()
    try:
        u = srv.url + "/api/auth/login"

        def attempt(addr, name):
            return requests.post(u, json={"username": name, "password": "wrong pass"},
                                 headers={"X-Forwarded-For": f"6.6.6.6, {addr}"}).status_code

        assert [attempt("1.1.1.1", f"n{i}") for i in range(3)] == [401, 401, 429]
        # Another client behind the same proxy is not locked out by the first.
        assert attempt("2.2.2.2", "other") == 401
    finally:
        srv.stop()


def test_behind_a_proxy_the_per_address_limit_counts_the_forwarded_address():
    """--trust-proxy: every connection comes from the proxy; the limit must hold per client
    (its requests in flight), not eject the proxy. Five connections from one socket
    address, as nginx would hold: client 10.0.0.1 has two requests in flight (event
    streams), its third is refused, and another client is served alongside."""
    import socket
    srv = Server(extra=["--max-connections-per-ip", "2", "--trust-proxy"]).start()
    c = Client(srv)
    w = c.workspace()
    cookie = "; ".join(f"{k}={v}" for k, v in c.s.cookies.items())

    def ask(addr):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.settimeout(20)
        s.sendall(f"GET /api/workspaces/{w['id']}/events HTTP/1.1\r\nHost: x\r\n"
                  f"Cookie: {cookie}\r\nX-Forwarded-For: {addr}\r\n\r\n".encode())
        return s, s.recv(200)
    opened = []
    try:
        for _ in range(2):
            s, head = ask("10.0.0.1")
            opened.append(s)
            assert head.startswith(b"HTTP/1.1 200"), head
        s, head = ask("10.0.0.1")
        opened.append(s)
        assert head.startswith(b"HTTP/1.1 429"), head
        s, head = ask("10.0.0.2")
        opened.append(s)
        assert head.startswith(b"HTTP/1.1 200"), head
    finally:
        for s in opened:
            s.close()
        srv.stop()


def test_connections_per_address_are_bounded():
    import socket
    srv = Server(extra=["--max-connections-per-ip", "4"]).start()
    socks = []
    try:
        for _ in range(4):
            socks.append(socket.create_connection(("127.0.0.1", srv.port)))
        extra = socket.create_connection(("127.0.0.1", srv.port))
        extra.settimeout(10)
        try:
            extra.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = extra.recv(100)
        except ConnectionResetError:
            answer = b""
        assert answer == b""  # closed without an answer
        extra.close()
        # The four admitted connections are still served.
        socks[0].sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert socks[0].recv(100).startswith(b"HTTP/1.1 200")
        for s in socks:
            s.close()
    finally:
        srv.stop()
