"""Workspaces and their files: ownership, etags, paths, limits, concurrency, durability."""
import concurrent.futures
import http.client
import json
import os

import requests

from conftest import Client, Server, error_code


def test_workspace_crud(user):
    w = user.workspace("first")
    assert w["name"] == "first" and w["owner"]["username"] == user.username
    assert w["file_count"] == 1
    items = user.get("/api/workspaces").json()["items"]
    assert w["id"] in [x["id"] for x in items]
    r = user.patch(f"/api/workspaces/{w['id']}", json={"name": "renamed"})
    assert r.status_code == 200 and r.json()["name"] == "renamed"
    r = user.patch(f"/api/workspaces/{w['id']}", json={"name": ""})
    assert r.status_code == 400
    r = user.patch(f"/api/workspaces/{w['id']}", json={"name": "a\u0007b"})
    assert r.status_code == 400
    assert user.delete(f"/api/workspaces/{w['id']}").status_code == 204
    assert user.get(f"/api/workspaces/{w['id']}").status_code == 404


def test_new_workspace_has_main_py(user):
    w = user.workspace()
    tree = user.get(f"/api/workspaces/{w['id']}/files").json()["items"]
    assert [(f["path"], f["kind"]) for f in tree] == [("main.py", "file")]
    r = user.get(f"/api/workspaces/{w['id']}/files/main.py")
    assert r.status_code == 200 and "print(" in r.text
    assert r.headers["ETag"].strip('"') == tree[0]["etag"]


def test_other_users_workspace_is_404(user, make_user, admin):
    w = user.workspace()
    other = make_user()
    base = f"/api/workspaces/{w['id']}"
    for method, path in [("GET", base), ("PATCH", base), ("DELETE", base),
                         ("GET", base + "/files"), ("GET", base + "/files/main.py"),
                         ("PUT", base + "/files/main.py"), ("DELETE", base + "/files/main.py"),
                         ("POST", base + "/folders"), ("POST", base + "/move")]:
        r = other.request(method, path, json={"name": "x"} if method == "PATCH" else None)
        assert r.status_code == 404, (method, path, r.status_code)
        assert error_code(r) == "not_found"
    assert w["id"] not in [x["id"] for x in other.get("/api/workspaces").json()["items"]]
    # The owner's file is untouched; an admin can see it.
    assert user.get(base + "/files/main.py").status_code == 200
    assert admin.get(base + "/files/main.py").status_code == 200
    assert w["id"] in [x["id"] for x in admin.get("/api/workspaces?all=1&limit=200").json()["items"]]
    assert user.get("/api/workspaces/999999").status_code == 404
    assert user.get("/api/workspaces/abc").status_code == 404


def test_put_get_etag_and_conflict(user):
    w = user.workspace()
    f = f"/api/workspaces/{w['id']}/files/src/app.py"
    r = user.put(f, data=b"print('one')\n")
    assert r.status_code == 201
    e1 = r.json()["etag"]
    r = user.put(f, data=b"print('two')\n", headers={"If-Match": f'"{e1}"'})
    assert r.status_code == 200
    e2 = r.json()["etag"]
    assert e2 != e1
    # A second tab still holding e1 must not overwrite silently.
    r = user.put(f, data=b"print('stale')\n", headers={"If-Match": f'"{e1}"'})
    assert r.status_code == 412 and error_code(r) == "etag_mismatch"
    assert r.json()["current"]["etag"] == e2
    assert user.get(f).content == b"print('two')\n"
    r = user.put(f, data=b"x", headers={"If-None-Match": "*"})
    assert r.status_code == 409
    r = user.get(f, headers={"If-None-Match": f'"{e2}"'})
    assert r.status_code == 304
    tree = {x["path"]: x for x in user.get(f"/api/workspaces/{w['id']}/files").json()["items"]}
    assert tree["src"]["kind"] == "folder" and tree["src/app.py"]["size"] == 13


def test_binary_and_unicode(user):
    w = user.workspace()
    data = bytes(range(256)) * 4
    p = f"/api/workspaces/{w['id']}/files/" + requests.utils.quote("données/été ✓.bin")
    assert user.put(p, data=data).status_code == 201
    r = user.get(p)
    assert r.content == data
    names = [x["path"] for x in user.get(f"/api/workspaces/{w['id']}/files").json()["items"]]
    assert "données/été ✓.bin" in names


def test_folders_move_delete(user):
    w = user.workspace()
    b = f"/api/workspaces/{w['id']}"
    assert user.post(b + "/folders", json={"path": "pkg/sub"}).status_code == 201
    assert user.post(b + "/folders", json={"path": "pkg/sub"}).status_code == 409
    assert user.put(b + "/files/pkg/sub/m.py", data=b"x = 1\n").status_code == 201
    assert user.put(b + "/files/pkg/__init__.py", data=b"").status_code == 201
    # A file cannot be a parent.
    r = user.put(b + "/files/pkg/__init__.py/x.py", data=b"")
    assert r.status_code == 409
    r = user.post(b + "/move", json={"from": "pkg", "to": "lib"})
    assert r.status_code == 200, r.text
    paths = [x["path"] for x in user.get(b + "/files").json()["items"]]
    assert "lib/sub/m.py" in paths and not any(p.startswith("pkg") for p in paths)
    assert user.post(b + "/move", json={"from": "lib", "to": "lib/sub/inner"}).status_code == 400
    assert user.post(b + "/move", json={"from": "main.py", "to": "lib/sub/m.py"}).status_code == 409
    assert user.post(b + "/move", json={"from": "nope.py", "to": "x.py"}).status_code == 404
    assert user.delete(b + "/files/lib").status_code == 204
    paths = [x["path"] for x in user.get(b + "/files").json()["items"]]
    assert paths == ["main.py"]
    assert user.delete(b + "/files/lib").status_code == 404


def raw_put(client, path, data):
    """PUT with the path sent byte for byte (requests would normalise '..' away)."""
    conn = http.client.HTTPConnection("127.0.0.1", client.server.port, timeout=30)
    cookie = "pyroom_session=" + client.s.cookies.get("pyroom_session")
    conn.putrequest("PUT", path, skip_accept_encoding=True)
    conn.putheader("Cookie", cookie)
    conn.putheader("X-CSRF-Token", client.csrf)
    conn.putheader("Content-Length", str(len(data)))
    conn.endheaders(data)
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return r.status, body


def test_path_traversal_refused(user):
    w = user.workspace()
    b = f"/api/workspaces/{w['id']}/files/"
    bad = ["../x", "%2e%2e/x", "a/%2e%2e/%2e%2e/etc/passwd", "%2Fetc%2Fpasswd", "a%00b",
           "a//b", "a/./b", "a\\b", "a%5Cb", "x%0Ay", "%", "%zz", "a/", "." * 3 + "/" + ".."]
    bad.append("a" * 256)
    bad.append("/".join(["abcdefgh"] * 60))  # over 512 bytes in all
    for p in bad:
        status, body = raw_put(user, b + p, b"evil")
        assert status == 400, (p, status, body)
        assert json.loads(body)["error"]["code"] == "invalid_path"
    r = user.post(f"/api/workspaces/{w['id']}/folders", json={"path": "../up"})
    assert r.status_code == 400 and error_code(r) == "invalid_path"
    r = user.post(f"/api/workspaces/{w['id']}/move", json={"from": "main.py", "to": "/etc/x"})
    assert r.status_code == 400
    paths = [x["path"] for x in user.get(f"/api/workspaces/{w['id']}/files").json()["items"]]
    assert paths == ["main.py"]  # nothing was written


def test_file_and_workspace_limits():
    srv = Server(extra=["--max-file-bytes", "1K", "--max-files", "5",
                        "--max-workspace-bytes", "3K"]).start()
    try:
        c = Client(srv)
        w = c.workspace()
        b = f"/api/workspaces/{w['id']}/files/"
        r = c.put(b + "big.txt", data=b"x" * 1025)
        assert r.status_code == 413 and error_code(r) == "too_large"
        for i in range(2):
            assert c.put(b + f"f{i}.txt", data=b"x" * 1000).status_code == 201
        r = c.put(b + "f9.txt", data=b"x" * 1000)  # would pass 3K in all
        assert r.status_code == 413
        assert c.put(b + "d/e/g.txt", data=b"x").status_code == 413  # 3 more entries > 5
        paths = [x["path"] for x in c.get(f"/api/workspaces/{w['id']}/files").json()["items"]]
        assert sorted(paths) == ["f0.txt", "f1.txt", "main.py"]
        lim = requests.get(srv.url + "/api/limits").json()
        assert lim["files"]["max_file_bytes"] == 1024
    finally:
        srv.stop()


def test_twenty_parallel_writers(user):
    w = user.workspace()
    b = f"/api/workspaces/{w['id']}/files/"

    def write(i):
        c = requests.Session()
        c.cookies.update(user.s.cookies)
        data = (f"writer {i}\n" * 100).encode()
        r = c.put(user.server.url + b + f"w/{i}.txt", data=data, headers={"X-CSRF-Token": user.csrf}, timeout=60)
        return r.status_code

    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        codes = list(ex.map(write, range(20)))
    assert codes == [201] * 20
    for i in (0, 7, 19):
        assert user.get(b + f"w/{i}.txt").text.startswith(f"writer {i}\n")
    tree = user.get(f"/api/workspaces/{w['id']}/files").json()["items"]
    assert len([x for x in tree if x["path"].startswith("w/")]) == 20


def test_same_file_parallel_if_match_only_one_wins(user):
    w = user.workspace()
    f = f"/api/workspaces/{w['id']}/files/main.py"
    etag = user.get(f).headers["ETag"]

    def write(i):
        c = requests.Session()
        c.cookies.update(user.s.cookies)
        return c.put(user.server.url + f, data=f"v{i}".encode(), timeout=60,
                     headers={"X-CSRF-Token": user.csrf, "If-Match": etag}).status_code

    with concurrent.futures.ThreadPoolExecutor(10) as ex:
        codes = list(ex.map(write, range(10)))
    assert sorted(codes) == [200] + [412] * 9


def test_kill9_loses_nothing_acknowledged():
    srv = Server().start()
    c = Client(srv)
    w = c.workspace()
    payload = os.urandom(4096)
    r = c.put(f"/api/workspaces/{w['id']}/files/keep.bin", data=payload)
    assert r.status_code == 201
    srv.kill9()
    srv.start()  # same database
    again = Client(srv, username=c.username, register=False)
    assert again.login().status_code == 200
    r = again.get(f"/api/workspaces/{w['id']}/files/keep.bin")
    assert r.status_code == 200 and r.content == payload
    assert srv.stop() == 0
