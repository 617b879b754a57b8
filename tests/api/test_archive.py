"""Zip downloads (GET /api/workspaces/{id}/archive[/{path}], GET /api/submissions/{id}/archive):
Python's zipfile opens each one; contents byte for byte (CRLF, binary), nested and empty
folders, unicode names flagged UTF-8, no entry that escapes, a folder named from its own
name down, the limits (files, bytes, concurrent downloads), who may download."""
import http.client
import io
import os
import socket
import time
import urllib.parse
import zipfile

import pytest

from conftest import Client, Server, error_code

CRLF = b"name,value\r\na,1\r\nb,2\r\n"
BINARY = bytes(range(256)) * 5 + b"\r\n\x00\r"
UNICODE = "donn\u00e9es/\u65e5\u672c\u8a9e \u00e9t\u00e9.py"


def put(c, ws, path, data):
    r = c.put(f"/api/workspaces/{ws}/files/{path}", data=data,
              headers={"Content-Type": "application/octet-stream"})
    assert r.status_code in (200, 201), r.text


def folder(c, ws, path):
    r = c.post(f"/api/workspaces/{ws}/folders", json={"path": path})
    assert r.status_code == 201, r.text


def clear(c, ws):
    for f in c.get(f"/api/workspaces/{ws}/files").json()["items"]:
        if "/" not in f["path"]:
            assert c.delete(f"/api/workspaces/{ws}/files/{f['path']}").status_code == 204


def download(c, url):
    r = c.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/zip"
    assert r.headers["Content-Disposition"].startswith("attachment; filename=")
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert z.testzip() is None, "every CRC checks"
    for info in z.infolist():
        name = info.filename
        assert not name.startswith("/") and ".." not in name.split("/") and "\\" not in name
    return r, z


def contents(z):
    return {i.filename: (None if i.is_dir() else z.read(i)) for i in z.infolist()}


def test_workspace_zip_is_byte_exact(user):
    ws = user.workspace("zip me")["id"]
    clear(user, ws)
    put(user, ws, "main.py", b"print('hi')\n")
    put(user, ws, "data/table.csv", CRLF)
    put(user, ws, "data/blob.bin", BINARY)
    put(user, ws, "a/b/c/d/deep.txt", b"deep\n" * 1000)
    put(user, ws, UNICODE, "print('\u00e9')\n".encode())
    put(user, ws, "empty.txt", b"")
    folder(user, ws, "nothing/here")
    r, z = download(user, f"/api/workspaces/{ws}/archive")
    assert r.headers["Content-Disposition"] == (
        "attachment; filename=\"zip_me.zip\"; filename*=UTF-8''zip%20me.zip")
    assert contents(z) == {
        "a/": None, "a/b/": None, "a/b/c/": None, "a/b/c/d/": None,
        "a/b/c/d/deep.txt": b"deep\n" * 1000,
        "data/": None, "data/blob.bin": BINARY, "data/table.csv": CRLF,
        "donn\u00e9es/": None, UNICODE: "print('\u00e9')\n".encode(),
        "empty.txt": b"", "main.py": b"print('hi')\n",
        "nothing/": None, "nothing/here/": None,
    }
    info = {i.filename: i for i in z.infolist()}
    assert all(i.flag_bits & 0x800 for i in info.values()), "names flagged UTF-8"
    assert info["a/b/c/d/deep.txt"].compress_type == zipfile.ZIP_DEFLATED
    assert info["a/b/c/d/deep.txt"].compress_size < 5000
    assert info["nothing/here/"].external_attr >> 16 == 0o40755
    assert info["main.py"].external_attr >> 16 == 0o100644
    # The files API's bytes are the zip's bytes.
    assert user.get(f"/api/workspaces/{ws}/files/data/table.csv").content == CRLF


def test_folder_zip_is_named_from_the_folder(user):
    ws = user.workspace("folders")["id"]
    put(user, ws, "src/pkg/__init__.py", b"")
    put(user, ws, "src/pkg/sub/mod.py", b"x = 1\r\n")
    # Names that sort between "src/pkg" and "src/pkg/..." or share its prefix stay out.
    put(user, ws, "src/pkg.py", b"no\n")
    put(user, ws, "src/pkg b/x.py", b"no\n")
    put(user, ws, "src/pkgs/y.py", b"no\n")
    r, z = download(user, f"/api/workspaces/{ws}/archive/src/pkg")
    assert "filename=\"pkg.zip\"" in r.headers["Content-Disposition"]
    assert contents(z) == {"pkg/": None, "pkg/__init__.py": b"", "pkg/sub/": None,
                           "pkg/sub/mod.py": b"x = 1\r\n"}
    # One file's path gives a zip of that file; percent-encoded unicode paths work.
    put(user, ws, UNICODE, b"u\n")
    quoted = "donn%C3%A9es/%E6%97%A5%E6%9C%AC%E8%AA%9E%20%C3%A9t%C3%A9.py"
    r, z = download(user, f"/api/workspaces/{ws}/archive/{quoted}")
    assert contents(z) == {"\u65e5\u672c\u8a9e \u00e9t\u00e9.py": b"u\n"}
    assert "filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E%20%C3%A9t%C3%A9.py.zip" in \
        r.headers["Content-Disposition"]


def test_bad_paths(user):
    ws = user.workspace("bad")["id"]
    r = user.get(f"/api/workspaces/{ws}/archive/missing")
    assert r.status_code == 404 and error_code(r) == "not_found"
    for bad in ("%2e%2e/x", "a/%2e%2e/%2e%2e", "a%5cb", "%00"):
        r = user.get(f"/api/workspaces/{ws}/archive/{bad}")
        assert r.status_code == 400 and error_code(r) == "invalid_path", bad


def test_empty_workspace(user):
    ws = user.workspace("empty")["id"]
    clear(user, ws)
    assert user.get(f"/api/workspaces/{ws}/files").json()["items"] == []
    _, z = download(user, f"/api/workspaces/{ws}/archive")
    assert z.infolist() == []


def test_large_archive_streams_whole(user):
    """More than the producer's queue (256 KiB) many times over, incompressible and not."""
    ws = user.workspace("large")["id"]
    files = {}
    for i in range(6):
        files[f"rand/{i}.bin"] = os.urandom(900 * 1024)
        files[f"text/{i}.txt"] = (f"line {i}\r\n" * 90000).encode()
    for path, data in files.items():
        put(user, ws, path, data)
    _, z = download(user, f"/api/workspaces/{ws}/archive")
    got = contents(z)
    for path, data in files.items():
        assert got[path] == data, path


def test_who_may_download(user, make_user, admin):
    ws = user.workspace("shared")["id"]
    put(user, ws, "secret.py", b"s = 1\n")
    viewer, editor, stranger = make_user(), make_user(), make_user()
    for who, role in ((viewer, "viewer"), (editor, "editor")):
        r = user.post(f"/api/workspaces/{ws}/members",
                      json={"username": who.username, "role": role})
        assert r.status_code == 201, r.text
    want = contents(download(user, f"/api/workspaces/{ws}/archive")[1])
    for who in (viewer, editor, admin):
        assert contents(download(who, f"/api/workspaces/{ws}/archive")[1]) == want
        assert contents(download(who, f"/api/workspaces/{ws}/archive/secret.py")[1]) == \
            {"secret.py": b"s = 1\n"}
    for url in (f"/api/workspaces/{ws}/archive", f"/api/workspaces/{ws}/archive/secret.py"):
        r = stranger.get(url)
        assert r.status_code == 404 and error_code(r) == "not_found"
    anon = Client(user.server, register=False)
    r = anon.get(f"/api/workspaces/{ws}/archive")
    assert r.status_code == 401 and error_code(r) == "unauthenticated"


def test_submission_zip(user, make_user, admin):
    ws = user.workspace("handed in")["id"]
    put(user, ws, "main.py", b"print(1)\r\n")
    put(user, ws, "lib/blob.bin", BINARY)
    r = user.post(f"/api/workspaces/{ws}/submissions", json={"message": "done"})
    assert r.status_code == 201, r.text
    sub = r.json()["id"]
    # Changes after submitting are not in the snapshot.
    put(user, ws, "main.py", b"print(2)\n")
    put(user, ws, "later.py", b"")
    reviewer = make_user("reviewer")
    for who in (user, reviewer, admin):
        r, z = download(who, f"/api/submissions/{sub}/archive")
        got = contents(z)
        assert got["main.py"] == b"print(1)\r\n" and got["lib/blob.bin"] == BINARY
        assert got["lib/"] is None and "later.py" not in got
        assert f"filename*=UTF-8''handed%20in-submission-{sub}.zip" in \
            r.headers["Content-Disposition"]
    r = make_user().get(f"/api/submissions/{sub}/archive")
    assert r.status_code == 404 and error_code(r) == "not_found"
    r = user.get("/api/submissions/999999/archive")
    assert r.status_code == 404 and error_code(r) == "not_found"


def test_size_limits_are_settings(tmp_path):
    srv = Server(extra=["--archive-max-files", "4", "--archive-max-bytes", "100K"]).start()
    try:
        c = Client(srv)
        ws = c.workspace("limits")["id"]
        clear(c, ws)
        put(c, ws, "a/one.py", b"1\n")
        put(c, ws, "a/two.py", b"2\n")
        assert len(contents(download(c, f"/api/workspaces/{ws}/archive")[1])) == 3
        put(c, ws, "b.py", b"3\n")
        put(c, ws, "c.py", b"4\n")  # 5 entries with the folder a/
        r = c.get(f"/api/workspaces/{ws}/archive")
        assert r.status_code == 413 and error_code(r) == "archive_too_large"
        assert r.json()["error"]["message"] == (
            "the zip would hold 5 files and folders; a download may hold 4 (--archive-max-files)")
        # The folder alone is within the limit.
        assert len(contents(download(c, f"/api/workspaces/{ws}/archive/a")[1])) == 3
        assert c.delete(f"/api/workspaces/{ws}/files/c.py").status_code == 204
        put(c, ws, "b.py", os.urandom(101 * 1024))
        r = c.get(f"/api/workspaces/{ws}/archive")
        assert r.status_code == 413 and error_code(r) == "archive_too_large"
        assert r.json()["error"]["message"] == (
            f"the zip would hold {101 * 1024 + 4} bytes of files; a download may hold {100 * 1024} "
            "(--archive-max-bytes)")
        put(c, ws, "b.py", os.urandom(90 * 1024))
        assert download(c, f"/api/workspaces/{ws}/archive")[1].read("b.py") == \
            c.get(f"/api/workspaces/{ws}/files/b.py").content
    finally:
        assert srv.stop() == 0


def test_concurrent_downloads_are_a_setting(tmp_path):
    """One download at a time: a second is refused while the first streams (its client
    reads nothing, so the producer waits on a full queue), and the slot comes back when
    the first client goes away (its producer ends at its next write)."""
    srv = Server(extra=["--archive-streams", "1"]).start()
    try:
        c = Client(srv)
        ws = c.workspace("streams")["id"]
        for i in range(24):  # far more than the queue and both sockets' buffers hold
            put(c, ws, f"big/{i}.bin", os.urandom(1024 * 1024 - 1))
        first = c.get(f"/api/workspaces/{ws}/archive", stream=True)
        assert first.status_code == 200
        r = c.get(f"/api/workspaces/{ws}/archive/big/0.bin")
        assert r.status_code == 429 and error_code(r) == "rate_limited"
        assert int(r.headers["Retry-After"]) > 0
        first.close()
        deadline = time.monotonic() + 60
        while True:
            r = c.get(f"/api/workspaces/{ws}/archive/big/0.bin")
            if r.status_code != 429 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.status_code == 200, r.text
        assert zipfile.ZipFile(io.BytesIO(r.content)).namelist() == ["0.bin"]
    finally:
        assert srv.stop() == 0


class SmallWindow(http.client.HTTPConnection):
    """A client whose receive buffer stays small (no autotuning): while it reads nothing,
    the server can send only its own socket buffer's worth ahead."""

    def connect(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.sock.settimeout(60)
        self.sock.connect((self.host, self.port))


def test_a_zip_cut_short_is_not_complete(tmp_path):
    """A file that grows past --archive-max-bytes between the listing and its read ends the
    download with an error: the chunked body has no last chunk, so the client sees a
    truncated transfer, not a complete file it cannot open. Deterministic: the first
    entries are 16 MiB of random bytes, far more than the producer's queue (256 KiB) and
    both sockets' buffers (4 MiB at most on the server's side, 16 KiB on ours) hold, so
    the producer is still in them, waiting for our reads, when the last file grows."""
    sizes = [1024 * 1024 - 1] * 16
    srv = Server(extra=["--archive-max-bytes", str(sum(sizes) + 2)]).start()
    try:
        c = Client(srv)
        ws = c.workspace("cut short")["id"]
        clear(c, ws)
        for i, n in enumerate(sizes):
            put(c, ws, f"big/{i:02}.bin", os.urandom(n))
        put(c, ws, "zz.py", b"1\n")  # listed (and read) last: exactly at the limit
        assert download(c, f"/api/workspaces/{ws}/archive/zz.py")[1].read("zz.py") == b"1\n"
        u = urllib.parse.urlsplit(srv.url)
        cookie = "; ".join(f"{k}={v}" for k, v in c.s.cookies.items())
        conn = SmallWindow(u.hostname, u.port, timeout=60)
        conn.request("GET", f"/api/workspaces/{ws}/archive", headers={"Cookie": cookie})
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("Transfer-Encoding") == "chunked"
        put(c, ws, "zz.py", b"12\n")  # now one byte past the limit
        with pytest.raises(http.client.IncompleteRead) as e:
            r.read()
        got = e.value.partial
        assert len(got) > sum(sizes), "every big file went out before the cut"
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(io.BytesIO(got))
        conn.close()
        # Listed now, the workspace is past the limit before anything is sent.
        r = c.get(f"/api/workspaces/{ws}/archive")
        assert r.status_code == 413 and error_code(r) == "archive_too_large"
    finally:
        assert srv.stop() == 0
