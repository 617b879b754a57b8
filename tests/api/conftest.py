"""Black-box API tests: a real pyroom server over real sockets, on a throw-away database.

PYROOM_TEST_DB selects the store: "sqlite" (a temporary file) or "postgres" (a fresh
database created in the cluster at PYROOM_TEST_PG, which scripts/pg.sh starts).
PYROOM_BIN is the binary under test (default build/pyroom).
"""
import functools
import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import urllib.parse

import pytest

import openapi_check
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("PYROOM_BIN", os.path.join(ROOT, "build", "pyroom"))


@functools.lru_cache(maxsize=None)
def sanitized():
    """Whether the server beside BIN is built with AddressSanitizer (make asan)."""
    try:
        with open(os.path.join(os.path.dirname(BIN), "pyroom-server"), "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False
DB_KIND = os.environ.get("PYROOM_TEST_DB", "sqlite")
PASSWORD = "correct horse battery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_database(tmpdir):
    """A database URL nobody else uses."""
    if DB_KIND == "postgres":
        base = os.environ["PYROOM_TEST_PG"]
        name = "pyroom_api_" + secrets.token_hex(6)
        subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {name}"], check=True,
                       capture_output=True)
        u = urllib.parse.urlsplit(base)
        return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))
    return "sqlite:" + os.path.join(tmpdir, "pyroom.db")


class Server:
    """One pyroom process. start() blocks until it logs that it listens."""

    def __init__(self, database=None, extra=()):
        self.tmp = tempfile.mkdtemp(prefix="pyroom-test-")
        self.database = database or new_database(self.tmp)
        self.extra = list(extra)
        self.proc = None
        self.log_path = os.path.join(self.tmp, "server.log")

    def start(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--database",
                self.database, "--data-dir", os.path.join(self.tmp, "data"),
                # every test client registers from 127.0.0.1: tests that check the limit
                # set their own (a later flag wins)
                "--register-rate", "0",
                # a test that stops a server with a run going does not wait the default
                # drain grace (30 s) for it
                "--drain-grace", "5"] + self.extra
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        ready = threading.Event()
        self.lines = []

        def pump(stream, log):
            for raw in stream:
                line = raw.decode(errors="replace")
                log.write(line)
                log.flush()
                self.lines.append(line)
                if '"msg":"listening"' in line:
                    ready.set()
            ready.set()

        log = open(self.log_path, "a")
        threading.Thread(target=pump, args=(self.proc.stderr, log), daemon=True).start()
        if not ready.wait(30) or self.proc.poll() is not None:
            raise RuntimeError("pyroom did not start:\n" + "".join(self.lines[-30:]))
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode if self.proc else None


class Client:
    """A logged-in user: a cookie session that sends the CSRF token on writes."""

    def __init__(self, server, username=None, password=PASSWORD, register=True):
        self.server = server
        self.s = requests.Session()
        self.username = username or ("u" + secrets.token_hex(5))
        self.password = password
        self.csrf = None
        self.user = None
        if register:
            r = self.post("/api/auth/register",
                          json={"username": self.username, "password": password})
            assert r.status_code == 201, r.text
            self._session(r)

    def _session(self, r):
        body = r.json()
        self.user = body["user"]
        self.csrf = body["csrf_token"]

    def login(self):
        r = self.post("/api/auth/login", json={"username": self.username, "password": self.password})
        if r.status_code == 200:
            self._session(r)
        return r

    def request(self, method, path, csrf=True, **kw):
        headers = kw.pop("headers", {}) or {}
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            headers.setdefault("X-CSRF-Token", self.csrf)
        r = self.s.request(method, self.server.url + path, headers=headers, timeout=60, **kw)
        # Every JSON answer the suite sees is checked against the OpenAPI document.
        if not kw.get("stream"):
            openapi_check.check(method, path.split("?")[0], r.status_code,
                                r.headers.get("Content-Type"), r.content)
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def workspace(self, name="test"):
        r = self.post("/api/workspaces", json={"name": name})
        assert r.status_code == 201, r.text
        return r.json()


def descendants(pid):
    """Pids of every process below pid (from /proc)."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def lang_worker_pids(srv):
    """Pids of srv's language workers (python3 -I -c ...)."""
    pids = []
    for p in descendants(srv.proc.pid):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[:3] == [b"python3", b"-I", b"-c"]:
            pids.append(p)
    return pids


def error_code(r):
    body = r.json()
    assert set(body) >= {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["code"]


@pytest.fixture(scope="session")
def server():
    srv = Server().start()
    yield srv
    rc = srv.stop()
    assert rc == 0, "server did not exit cleanly on SIGTERM"


@pytest.fixture(scope="session")
def admin(server):
    """The first account of the database: an admin."""
    c = Client(server, username="admin")
    assert c.user["role"] == "admin"
    return c


@pytest.fixture
def user(server, admin):
    """A fresh submitter (admin exists first so this one is not the admin)."""
    return Client(server)


@pytest.fixture
def make_user(server, admin):
    def make(role="submitter"):
        c = Client(server)
        if role != "submitter":
            r = admin.patch(f"/api/admin/users/{c.user['id']}", json={"role": role})
            assert r.status_code == 200, r.text
            c.user = r.json()
        return c
    return make
