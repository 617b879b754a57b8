"""A hostile user at the HTTP/API boundary: every test here is an attack that must fail.

Black-box over real sockets (requests, raw sockets, websocket-client) against the real
binary. Each test names the attack; where one found a bug, the fix is in the same commit.
"""
import json
import os
import socket
import threading
import time

import pytest
import requests
import websocket

from conftest import PASSWORD, Client, error_code

DEADLINE = 20


def raw_http(server, data, timeout=DEADLINE):
    """Sends raw bytes, returns everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out


def status_of(raw):
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.") else None


def alive(server):
    return requests.get(server.url + "/api/health", timeout=DEADLINE).status_code == 200


def file_url(w, path):
    return f"/api/workspaces/{w['id']}/files/{path}"


def csp_list(r):
    """Every Content-Security-Policy of a response (a browser enforces them all)."""
    return [v for k, v in r.raw.headers.items() if k.lower() == "content-security-policy"]


# ---- cross-site request forgery ------------------------------------------------------------


@pytest.mark.parametrize("ctype", ["text/plain", "text/plain;charset=UTF-8",
                                   "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x"])
def test_login_csrf_with_a_form_body_is_refused(server, user, ctype):
    """A cross-site <form enctype=text/plain> can post a JSON-looking body without a
    preflight and log the victim into the attacker's account (login CSRF): a body a form or
    sendBeacon could send is 415, whatever it holds."""
    body = json.dumps({"username": user.username, "password": PASSWORD})
    for path in ("/api/auth/login", "/api/auth/register"):
        r = requests.post(server.url + path, data=body, headers={"Content-Type": ctype},
                          timeout=DEADLINE)
        assert r.status_code == 415, (path, r.status_code, r.text)
        assert error_code(r) == "unsupported_media_type"
        assert "set-cookie" not in {k.lower() for k in r.headers}
    # The same body as JSON logs in; so does a script sending no Content-Type at all.
    r = requests.post(server.url + "/api/auth/login", data=body,
                      headers={"Content-Type": "application/json; charset=utf-8"}, timeout=DEADLINE)
    assert r.status_code == 200, r.text
    r = requests.post(server.url + "/api/auth/login", data=body, timeout=DEADLINE)
    assert r.status_code == 200, r.text


def test_form_body_refused_on_json_writes_too(user):
    w = user.workspace("formbody")
    r = user.patch(f"/api/workspaces/{w['id']}", data=json.dumps({"name": "x"}),
                   headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert user.get(f"/api/workspaces/{w['id']}").json()["name"] == "formbody"


def state_changing_routes(w, sid, tid, run_id):
    ws = w["id"]
    return [
        ("POST", "/api/auth/logout", None),
        ("POST", "/api/auth/tokens", {"name": "t"}),
        ("DELETE", f"/api/auth/tokens/{tid}", None),
        ("POST", "/api/workspaces", {"name": "x"}),
        ("PATCH", f"/api/workspaces/{ws}", {"name": "renamed"}),
        ("PUT", f"/api/workspaces/{ws}/files/main.py", None),
        ("DELETE", f"/api/workspaces/{ws}/files/main.py", None),
        ("POST", f"/api/workspaces/{ws}/folders", {"path": "d"}),
        ("POST", f"/api/workspaces/{ws}/move", {"from": "main.py", "to": "m.py"}),
        ("POST", f"/api/workspaces/{ws}/runs", {"entry": "main.py"}),
        ("POST", f"/api/runs/{run_id}/cancel", None),
        ("POST", f"/api/runs/{run_id}/stdin", None),
        ("POST", f"/api/workspaces/{ws}/submissions", {"message": "m"}),
        ("POST", f"/api/submissions/{sid}/withdraw", None),
        ("POST", f"/api/submissions/{sid}/comments", {"body": "b"}),
        ("POST", f"/api/submissions/{sid}/review", {"decision": "approve"}),
        ("PATCH", "/api/admin/users/1", {"disabled": True}),
        ("DELETE", f"/api/workspaces/{ws}", None),
    ]


def test_csrf_on_every_state_changing_route(server, admin, make_user):
    """Cookie without X-CSRF-Token, with a wrong one, or with another session's valid one:
    403 csrf everywhere, and nothing changed."""
    victim = make_user()
    other = make_user()
    w = victim.workspace("csrf")
    tid = victim.post("/api/auth/tokens", json={"name": "k"}).json()["id"]
    sid = victim.post(f"/api/workspaces/{w['id']}/submissions", json={}).json()["id"]
    before = victim.get(f"/api/workspaces/{w['id']}/files").json()
    for method, path, body in state_changing_routes(w, sid, tid, 999999):
        for token in (None, "x" * 43, other.csrf, victim.csrf.upper() + "A"):
            headers = {"X-CSRF-Token": token} if token else {}
            kw = {"json": body} if body is not None else {"data": b""}
            r = victim.request(method, path, csrf=False, headers=headers, **kw)
            assert r.status_code == 403 and error_code(r) == "csrf", (method, path, token, r.text)
    # The admin's session is no different.
    r = admin.request("PATCH", f"/api/admin/users/{victim.user['id']}", csrf=False,
                      json={"disabled": True})
    assert r.status_code == 403
    assert victim.get("/api/auth/me").status_code == 200
    assert victim.get(f"/api/workspaces/{w['id']}/files").json() == before
    assert victim.get(f"/api/submissions/{sid}").json()["status"] == "pending"


def test_websocket_origin_checks(server, user):
    """A cookie on a WebSocket from a foreign page: 403 for every look-alike origin."""
    w = user.workspace("wsorigin")
    cookie = "pyroom_session=" + user.s.cookies["pyroom_session"]
    host = f"127.0.0.1:{server.port}"
    bad = [None, "null", f"http://{host}.evil.example", f"http://evil.example/{host}",
           f"http://{host}@evil.example", f"ws://{host}", f"http://{host}/", "http://localhost",
           f"http://127.0.0.1:{server.port + 1}", f"file://{host}", ""]
    for origin in bad:
        req = (f"GET /api/workspaces/{w['id']}/terminal HTTP/1.1\r\nHost: {host}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               f"Cookie: {cookie}\r\n" + (f"Origin: {origin}\r\n" if origin is not None else "")
               + "Connection: close\r\n\r\n")
        out = raw_http(server, req.encode())
        assert status_of(out) == 403, (origin, out[:200])


# ---- sessions, tokens, roles -----------------------------------------------------------------


def test_session_fixation_and_logout(server, user):
    """A cookie planted before login is never adopted; logout ends that session only."""
    planted = "pyroom_session=ps_" + "A" * 43
    s = requests.Session()
    r = s.post(server.url + "/api/auth/login", headers={"Cookie": planted},
               json={"username": user.username, "password": PASSWORD}, timeout=DEADLINE)
    assert r.status_code == 200
    new = r.cookies["pyroom_session"]
    assert new and "A" * 43 not in new
    r = requests.get(server.url + "/api/auth/me", headers={"Cookie": planted}, timeout=DEADLINE)
    assert r.status_code == 401
    # Two sessions; logging out one leaves the other.
    csrf2 = r2 = None
    r2 = s.get(server.url + "/api/auth/me", timeout=DEADLINE)
    csrf2 = r2.json()["csrf_token"]
    assert csrf2 != user.csrf
    assert user.post("/api/auth/logout").status_code == 204
    assert user.get("/api/auth/me").status_code == 401
    old = user.s.cookies.get("pyroom_session")
    assert old is None or requests.get(server.url + "/api/auth/me",
                                       cookies={"pyroom_session": old}).status_code == 401
    assert s.get(server.url + "/api/auth/me", timeout=DEADLINE).status_code == 200


def test_tokens_revoked_and_disabled_users(server, admin, make_user):
    u = make_user()
    other = make_user()
    t = u.post("/api/auth/tokens", json={"name": "script"}).json()
    bearer = {"Authorization": "Bearer " + t["token"]}
    assert requests.get(server.url + "/api/auth/me", headers=bearer).status_code == 200
    # Another user cannot see or revoke it.
    assert t["id"] not in [x["id"] for x in other.get("/api/auth/tokens").json()["items"]]
    assert other.delete(f"/api/auth/tokens/{t['id']}").status_code == 404
    assert requests.get(server.url + "/api/auth/me", headers=bearer).status_code == 200
    # Disabled: cookie and token both stop at once, and login is refused.
    assert admin.patch(f"/api/admin/users/{u.user['id']}", json={"disabled": True}).status_code == 200
    assert requests.get(server.url + "/api/auth/me", headers=bearer).status_code == 401
    assert u.get("/api/auth/me").status_code == 401
    r = u.login()  # the right password learns why (issue 19, B9), and gets no session
    assert r.status_code == 403 and error_code(r) == "account_disabled"
    assert "set-cookie" not in {k.lower() for k in r.headers}
    w = requests.post(server.url + "/api/workspaces", headers=bearer, json={"name": "x"})
    assert w.status_code == 401
    # Enabled again: old sessions stay ended; the token is revocable and then dead.
    assert admin.patch(f"/api/admin/users/{u.user['id']}", json={"disabled": False}).status_code == 200
    assert u.get("/api/auth/me").status_code == 401
    assert u.login().status_code == 200
    assert u.delete(f"/api/auth/tokens/{t['id']}").status_code == 204
    assert requests.get(server.url + "/api/auth/me", headers=bearer).status_code == 401
    # Garbage and prefixes of tokens.
    for h in ("Bearer ", "Bearer " + t["token"][:-1], "Bearer " + t["token"] + "x",
              "Basic " + t["token"], "Bearer\t" + t["token"], "Bearer " + "\u00e9" * 10):
        r = requests.get(server.url + "/api/auth/me", headers={"Authorization": h.encode()})
        assert r.status_code == 401, h


def test_role_is_checked_per_request(server, admin, make_user):
    """A demoted admin loses admin powers on the same session at once."""
    a2 = make_user("admin")
    assert a2.get("/api/admin/users").status_code == 200
    assert admin.patch(f"/api/admin/users/{a2.user['id']}", json={"role": "submitter"}).status_code == 200
    assert a2.get("/api/admin/users").status_code == 403
    assert a2.patch(f"/api/admin/users/{a2.user['id']}", json={"role": "admin"}).status_code == 403
    # A submitter cannot promote themselves by any field.
    r = a2.patch(f"/api/admin/users/{a2.user['id']}", json={"role": "admin", "disabled": False})
    assert r.status_code == 403
    assert a2.get("/api/auth/me").json()["user"]["role"] == "submitter"


# ---- insecure direct object references ---------------------------------------------------------


def test_idor_everything_of_another_user_is_404(server, admin, make_user):
    owner = make_user()
    thief = make_user()
    reviewer = make_user("reviewer")
    w = owner.workspace("private")
    owner.put(file_url(w, "secret.txt"), data=b"s3cret")
    sid = owner.post(f"/api/workspaces/{w['id']}/submissions", json={}).json()["id"]
    tid = owner.post("/api/auth/tokens", json={"name": "k"}).json()["id"]
    ws = w["id"]
    for c in (thief, reviewer):
        for path in (f"/api/workspaces/{ws}", f"/api/workspaces/{ws}/files",
                     f"/api/workspaces/{ws}/files/secret.txt", f"/api/workspaces/{ws}/runs",
                     f"/api/workspaces/{ws}/events"):
            r = c.get(path, stream=True)
            assert r.status_code == 404, (path, r.status_code)
            r.close()
        for method, path, body in state_changing_routes(w, sid, tid, 999999):
            if path.startswith(("/api/admin", "/api/auth", "/api/workspaces?")) or \
                    path == "/api/workspaces":
                continue
            if path.startswith("/api/submissions") and c is reviewer:
                continue  # reviewers may see submissions: covered by test_submissions.py
            kw = {"json": body} if body is not None else {"data": b""}
            r = c.request(method, path, **kw)
            assert r.status_code in (403, 404), (method, path, r.status_code, r.text)
            assert b"s3cret" not in r.content
    # The thief sees no submission and no comment.
    assert thief.get(f"/api/submissions/{sid}").status_code == 404
    assert thief.get(f"/api/submissions/{sid}/files/secret.txt").status_code == 404
    assert thief.get(f"/api/submissions/{sid}/diff?against={sid}").status_code == 404
    assert sid not in [s["id"] for s in thief.get("/api/submissions?mine=0").json()["items"]]
    assert owner.get(f"/api/workspaces/{ws}/files/secret.txt").content == b"s3cret"
    assert owner.get(f"/api/workspaces/{ws}").json()["name"] == "private"
    assert [x["id"] for x in owner.get("/api/auth/tokens").json()["items"]] == [tid]
    # Ids in odd spellings are not ids.
    for spelled in (f"0{ws}", f"+{ws}", f"{ws}.0", f"{ws}%00", f"{ws} ", "-1", "0",
                    "99999999999999999999", f"0x{ws:x}", f"{ws}/"):
        r = thief.get(f"/api/workspaces/{spelled}")
        assert r.status_code == 404, spelled


# ---- bodies, headers, connections -----------------------------------------------------------------


def test_json_edge_cases(user):
    w = user.workspace("json")
    url = f"/api/workspaces/{w['id']}"
    bad = [b"[" * 100000, b'{"name": "\xff\xfe"}', b'{"name": "a\\u0000b"}',
           b'{"name": "\xed\xa0\x80"}', b'{"name": "x"} trailing', b'{"name": 1e999999}',
           b'{"name": "\\ud800"}', b"", b"\x00", b'{"name":"x","name":"y"}']
    for body in bad:
        r = user.patch(url, data=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (body[:40], r.status_code, r.text)
        assert error_code(r) in ("invalid_json", "invalid_field")
    assert user.get(url).json()["name"] == "json"
    # Numbers out of range where numbers are wanted.
    # Integers past 64 bits are refused by the JSON parser itself; the rest by the field.
    for limits, code in (({"wall_ms": 10**30}, "invalid_json"), ({"wall_ms": -1}, "invalid_field"),
                         ({"memory_bytes": 2**64}, "invalid_json"),
                         ({"wall_ms": "1"}, "invalid_field"), ({"wall_ms": 1.5e308}, "invalid_field")):
        r = user.post(f"/api/workspaces/{w['id']}/runs", json={"entry": "main.py", "limits": limits})
        assert r.status_code == 400, (limits, r.text)
        assert error_code(r) == code, (limits, r.text)
    assert user.get(f"/api/workspaces/{w['id']}/runs").json()["items"] == []
    # Paging values that are not usable numbers are ignored: the whole (one-item) list.
    for q in ("limit=99999999999999999999999", "limit=-5", "offset=-1",
              "offset=99999999999999999999", "limit=abc"):
        r = user.get(f"/api/workspaces?{q}")
        assert r.status_code == 200, q
        assert [x["id"] for x in r.json()["items"]] == [w["id"]], q
    assert alive(user.server)


@pytest.mark.parametrize("name", ["\u0085x", "a\u009bb", "evil\u202etxt.py", "\u2066x\u2069",
                                  "a\u0000b", "\x7f"])
def test_names_refuse_control_and_bidi_characters(user, name):
    """Names are shown in lists and the audit log: C1 controls (NEL, CSI) and bidi overrides
    ("Trojan Source") would let a name lie about itself, as the path rules already know."""
    r = user.post("/api/workspaces", json={"name": name})
    assert r.status_code == 400, (name, r.text)
    w = user.workspace("named")
    assert user.patch(f"/api/workspaces/{w['id']}", json={"name": name}).status_code == 400
    assert user.post("/api/auth/tokens", json={"name": name}).status_code == 400
    # Ordinary non-ASCII stays fine.
    assert user.patch(f"/api/workspaces/{w['id']}", json={"name": "données ✓ 日本"}).status_code == 200


def test_chunked_body_past_max_body_is_413(server, user):
    w = user.workspace("chunked")

    def gen():
        chunk = b"x" * 65536
        for _ in range(40):  # 2.5 MiB, more than the 2 MiB default
            yield chunk

    r = user.put(file_url(w, "big.bin"), data=gen())
    assert r.status_code == 413 and error_code(r) == "too_large"
    assert user.get(file_url(w, "big.bin")).status_code == 404
    # A lying Content-Length is refused before the body.
    out = raw_http(server, (f"PUT {file_url(w, 'x.bin')} HTTP/1.1\r\nHost: x\r\n"
                            "Content-Length: 99999999999999999999999\r\n"
                            "Connection: close\r\n\r\n").encode())
    assert status_of(out) == 413, out[:200]
    assert alive(server)


def test_huge_and_broken_headers_leave_the_server_up(server, user):
    # Each request and the one status it gets (None: no HTTP answer at all).
    cases = (
        (b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n", 431),
        (b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + b"X-M: y\r\n" * 20000 + b"\r\n", 431),
        # A bare CR inside a header value may be read as a space (RFC 9112 section 2.2).
        (b"GET /api/health HTTP/1.1\r\nHost: x\r\nX: a\rb\r\nConnection: close\r\n\r\n", 200),
        # Smuggling: both framings at once is refused, never answered.
        (b"GET /api/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
         b"Content-Length: 5\r\n\r\nzzzzzz\r\n0\r\n\r\n", 400),
        (b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /api/health HTTP/9.9\r\n\r\n", 505),
    )
    for req, want in cases:
        out = raw_http(server, req)
        assert status_of(out) == want, (req[:60], out[:200])
    # Bytes that are not HTTP get no answer (the connection is held, not parsed).
    assert raw_http(server, b"\x00\xff\x16\x03\x01\x02\x00\r\n\r\n", timeout=2) == b""
    # Chunk sizes that overflow.
    out = raw_http(server, (f"PUT {file_url({'id': 1}, 'x')} HTTP/1.1\r\nHost: x\r\n"
                            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                            "ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n").encode())
    assert status_of(out) == 413, out[:200]
    assert alive(server)


def test_error_bodies_leak_nothing(server, user):
    """No SQL, host path or errno text in any error the hostile requests above provoke."""
    w = user.workspace("leak")
    answers = [user.get(file_url(w, "nope.txt")), user.get(file_url(w, "%2e%2e/etc/passwd")),
               user.get("/api/runs/99999999/artifacts/x.png"), user.get("/api/nope"),
               user.post(f"/api/workspaces/{w['id']}/move", json={"from": "a", "to": "b"}),
               user.patch(f"/api/workspaces/{w['id']}", data=b"{", headers={}),
               user.get("/api/submissions/1/diff?against=abc'--"),
               requests.get(server.url + "/../../etc/passwd"),
               requests.get(server.url + "/%2e%2e/%2e%2e/etc/passwd")]
    for r in answers:
        text = r.text.lower()
        for needle in ("select ", "insert ", "sqlite", "postgres", "pq:", "/tmp/", "/work/",
                       "/etc/", "root:", "errno", "segment fault"):
            assert needle not in text, (r.url, r.status_code, r.text[:200])


# ---- paths -------------------------------------------------------------------------------------------


# Each raw path after /files/ and exactly what the server does with it: a stored name, or
# invalid_path. Look-alikes that are valid names stay ordinary names inside the workspace.
PATH_TRICKS = {
    "%2e%2e/x": None, "a/%2e%2e/%2e%2e/x": None, "a%2F..%2Fb": None, "a%2f%2e%2e%2fb": None,
    "%2Fetc%2Fpasswd": None, "%C0%AE%C0%AE/x": None, "%E2%80%AEgpj.py": None,
    "a%5C..%5Cb": None, "a%00b": None, "x%0d%0aSet-Cookie:%20a=b": None, "a//b": None,
    "a/.": None, "x" * 256: None, "a/" * 300 + "b": None, "%c2%85x": None,
    "./x": "x",  # the client removes the dot segment (RFC 3986) before sending
    "%": "%", "%zz": "%zz", "a%2": "a%2",  # not escapes: literal names
    "%ef%bc%8e%ef%bc%8e/x": "\uff0e\uff0e/x",  # fullwidth dots are not ".."
}


@pytest.mark.parametrize("raw", list(PATH_TRICKS), ids=lambda p: p[:24])
def test_path_tricks(user, raw):
    w = user.workspace("paths")
    r = user.put(file_url(w, raw), data=b"pwn")
    want = PATH_TRICKS[raw]
    assert "set-cookie" not in {k.lower() for k in r.headers}
    if want is None:
        assert r.status_code == 400, (raw, r.status_code, r.text)
        assert error_code(r) == "invalid_path"
        listing = []
    else:
        assert r.status_code == 201, (raw, r.status_code, r.text)
        assert r.json()["path"] == want
        parts = want.split("/")  # the listing shows the folders too
        listing = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    items = user.get(f"/api/workspaces/{w['id']}/files").json()["items"]
    assert [f["path"] for f in items if f["path"] != "main.py"] == listing


# ---- user content must never become a page of ours ------------------------------------------------


def assert_inert(r):
    ctype = r.headers.get("Content-Type", "")
    assert "html" not in ctype and "javascript" not in ctype, ctype
    assert "xml" not in ctype or ctype == "image/svg+xml", ctype  # <img> still shows an SVG
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    policies = csp_list(r)
    assert any("sandbox" in p and "default-src 'none'" in p for p in policies), policies


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'


def test_user_files_never_render_as_active_content(user, make_user):
    """A user's .svg, .html or .xml opened in a tab must not run script on our origin (it
    would read the victim's CSRF token via /api/auth/me)."""
    w = user.workspace("xss")
    for name, body in (("x.svg", SVG), ("x.html", b"<script>alert(1)</script>"),
                       ("x.xhtml", SVG), ("x.xml", SVG), ("x.SVG", SVG), ("x.svg.", SVG),
                       ("x.js", b"alert(1)"), ("x.htm", b"<script>alert(1)</script>"),
                       ("noext", b"<html><script>alert(1)</script>"), ("x.png", SVG)):
        assert user.put(file_url(w, name), data=body).status_code == 201
        assert_inert(user.get(file_url(w, name)))
    sid = user.post(f"/api/workspaces/{w['id']}/submissions", json={}).json()["id"]
    reviewer = make_user("reviewer")
    for name in ("x.svg", "x.html", "noext"):
        assert_inert(reviewer.get(f"/api/submissions/{sid}/files/{name}"))


def test_api_json_answers_are_inert(server, user):
    """JSON answers, errors included, carry nosniff and never text/html: a JSON error that
    echoes a user string must not turn into a page."""
    for r in (user.get("/api/auth/me"), user.get("/api/nope<script>"),
              requests.get(server.url + "/api/workspaces/1", timeout=DEADLINE)):
        assert r.headers["Content-Type"].startswith("application/json")
        assert r.headers.get("X-Content-Type-Options") == "nosniff"
        assert "frame-ancestors 'none'" in r.headers.get("Content-Security-Policy", "")


# ---- live streams after the right to them is gone -----------------------------------------------


class EventReader:
    """Reads an event stream on a thread. `ended` is set when the stream ends and `how`
    says whether the server closed it ("closed") or the read failed (the exception), so a
    read timeout can never pass for the server ending the stream."""

    def __init__(self, resp):
        self.resp = resp
        self.lines = []
        self.how = None
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for line in self.resp.iter_lines(chunk_size=1):
                self.lines.append(line.decode(errors="replace"))
            self.how = "closed"
        except Exception as e:  # noqa: BLE001 - recorded and asserted on by the test
            self.how = e
        self.ended.set()

    def wait_for(self, text, deadline=DEADLINE):
        end = time.monotonic() + deadline
        while time.monotonic() < end and not self.ended.is_set():
            if any(text in x for x in self.lines):
                return
            time.sleep(0.02)
        raise AssertionError("no %r in the stream: %r (ended: %r)" % (text, self.lines, self.how))


@pytest.mark.parametrize("how", ["disable", "logout", "token"])
def test_event_stream_ends_with_the_session(server, admin, make_user, how):
    """A disabled user, a logged-out session or a revoked token keeps no live view of the
    workspace (file names and etags keep flowing otherwise, for as long as it stays open)."""
    u = make_user()
    w = u.workspace("watched")
    url = server.url + f"/api/workspaces/{w['id']}/events"
    # The read timeout is far beyond the wait below: only the server can end this stream.
    if how == "token":
        tok = u.post("/api/auth/tokens", json={"name": "w"}).json()
        r = requests.Session().get(url, stream=True, timeout=4 * DEADLINE,
                                   headers={"Authorization": "Bearer " + tok["token"]})
    else:
        r = u.s.get(url, stream=True, timeout=4 * DEADLINE)
    assert r.status_code == 200
    events = EventReader(r)
    # The stream works: a change shows.
    assert admin.put(file_url(w, "before.txt"), data=b"1").status_code == 201
    events.wait_for("before.txt")
    if how == "disable":
        assert admin.patch(f"/api/admin/users/{u.user['id']}", json={"disabled": True}).status_code == 200
    elif how == "logout":
        assert u.post("/api/auth/logout").status_code == 204
    else:
        assert u.delete(f"/api/auth/tokens/{tok['id']}").status_code == 204
    assert events.ended.wait(DEADLINE), "the event stream stayed open"
    assert events.how == "closed", events.how
    r.close()


# ---- symlinks a run leaves behind ---------------------------------------------------------------


def test_run_artifacts_never_follow_a_planted_symlink(server, user):
    """A program replaces its hidden .pyroom folder by a symlink to a host directory: the
    server must not read figures through it (DESIGN: never follow a link a sandbox made)."""
    probe = user.post(f"/api/workspaces/{user.workspace('probe')['id']}/runs?wait=1",
                      json={"entry": "main.py"})
    if probe.status_code != 200 or probe.json()["status"] == "failed":
        pytest.skip("no sandboxes here")
    host = os.path.join(server.tmp, "host-secret")
    os.makedirs(os.path.join(host, "artifacts"), exist_ok=True)
    with open(os.path.join(host, "artifacts", "leak.png"), "wb") as f:
        f.write(b"\x89PNG host secret")
    w = user.workspace("symlinks")
    code = ("import os, shutil\n"
            "shutil.rmtree('.pyroom', ignore_errors=True)\n"
            f"os.symlink({host!r}, '.pyroom')\n"
            "os.symlink('/etc/passwd', 'passwd')\n"
            "os.mkfifo('fifo')\n"
            "print('planted')\n")
    assert user.put(file_url(w, "main.py"), data=code.encode()).status_code == 200
    r = user.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={"entry": "main.py"})
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["stdout"] == "planted\n", run
    assert [a["name"] for a in run["artifacts"]] == []
    assert user.get(f"/api/runs/{run['id']}/artifacts/leak.png").status_code == 404
    names = [f["path"] for f in user.get(f"/api/workspaces/{w['id']}/files").json()["items"]]
    assert "passwd" not in names and "fifo" not in names and ".pyroom" not in names
    assert os.path.exists(os.path.join(host, "artifacts", "leak.png"))


# ---- terminals after the right to them is gone ---------------------------------------------------


def open_terminal(client, ws_id, bearer=None):
    url = client.server.url.replace("http://", "ws://") + f"/api/workspaces/{ws_id}/terminal"
    if bearer:
        headers = ["Authorization: Bearer " + bearer]
    else:
        headers = ["Cookie: pyroom_session=" + client.s.cookies["pyroom_session"]]
    return websocket.create_connection(url, header=headers, origin=client.server.url,
                                       timeout=DEADLINE)


def closed_within(conn, deadline=DEADLINE):
    """Reads until the server closes; True when it did."""
    conn.settimeout(deadline)
    try:
        while True:
            op, _ = conn.recv_data(control_frame=True)
            if op == websocket.ABNF.OPCODE_CLOSE:
                return True
    except websocket.WebSocketTimeoutException:
        return False
    except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
        return True


@pytest.mark.parametrize("how", ["disable", "logout", "token"])
def test_terminal_ends_with_the_session(server, admin, make_user, how):
    """An open shell is the strongest live right there is: disabling the user, logging the
    session out or revoking the token that opened it must close it."""
    u = make_user()
    w = u.workspace("shell")
    tok = u.post("/api/auth/tokens", json={"name": "t"}).json() if how == "token" else None
    try:
        conn = open_terminal(u, w["id"], bearer=tok["token"] if tok else None)
    except websocket.WebSocketBadStatusException as e:
        if e.status_code == 503:
            pytest.skip("no terminals here")
        raise
    if how == "disable":
        assert admin.patch(f"/api/admin/users/{u.user['id']}", json={"disabled": True}).status_code == 200
    elif how == "logout":
        assert u.post("/api/auth/logout").status_code == 204
    else:
        assert u.delete(f"/api/auth/tokens/{tok['id']}").status_code == 204
    try:
        assert closed_within(conn), "the terminal stayed open"
    finally:
        conn.close()


def test_event_streams_per_user_are_bounded(server, make_user):
    """Each stream holds a server connection (memory) for as long as it stays open: one
    user opening hundreds would take every connection of the node. Past the cap: 429."""
    u = make_user()
    other = make_user()
    w = u.workspace("many")
    opened, refused = [], None
    try:
        for _ in range(65):  # the default --max-event-streams-per-user is 64
            r = u.s.get(server.url + f"/api/workspaces/{w['id']}/events", stream=True,
                        timeout=DEADLINE)
            if r.status_code != 200:
                refused = r
                break
            opened.append(r)
        assert refused is not None, "65 event streams for one user"
        assert refused.status_code == 429 and refused.headers.get("Retry-After")
        assert error_code(refused) == "rate_limited"
        ow = other.workspace("mine")
        r = other.s.get(server.url + f"/api/workspaces/{ow['id']}/events", stream=True,
                        timeout=DEADLINE)
        assert r.status_code == 200
        r.close()
    finally:
        for r in opened:
            r.close()
