"""Terminals over WebSocket and the workspace event stream, black-box against a real server.

Every wait is for expected output with a deadline (never a sleep as synchronisation).
Commands end with a marker whose echo differs from its output (`echo M-$((40+2))` prints
M-42 while its echo shows the arithmetic), so the echo of a command never satisfies a wait.
"""
import json
import os
import queue
import re
import threading
import time

import pytest
import requests
import websocket

from conftest import Client, Server

DEADLINE = 20


class Term:
    """One WebSocket client of a terminal: bytes in, bytes and control messages out."""

    def __init__(self, client, ws_id, name="1", origin=True, timeout=DEADLINE, mode=None):
        srv = client.server
        host = srv.url[len("http://"):]
        cookie = "; ".join(f"{k}={v}" for k, v in client.s.cookies.items())
        kw = {"cookie": cookie, "timeout": timeout}
        if origin is True:
            kw["origin"] = srv.url
        elif origin:
            kw["origin"] = origin
        else:
            kw["suppress_origin"] = True
        self.ws = websocket.create_connection(
            f"ws://{host}/api/workspaces/{ws_id}/terminal?name={name}"
            + (f"&mode={mode}" if mode else ""), **kw)
        self.buf = b""
        self.controls = []
        self.closed = False
        self.seq = 0

    def send(self, data):
        self.ws.send_binary(data if isinstance(data, bytes) else data.encode())

    def control(self, msg):
        self.ws.send(json.dumps(msg))

    def _recv(self, timeout):
        self.ws.settimeout(max(timeout, 0.01))
        try:
            op, data = self.ws.recv_data()
        except websocket.WebSocketTimeoutException:
            return
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            self.closed = True
            return
        if op == websocket.ABNF.OPCODE_TEXT:
            self.controls.append(json.loads(data))
        elif op == websocket.ABNF.OPCODE_BINARY:
            self.buf += data
        elif op == websocket.ABNF.OPCODE_CLOSE:
            self.closed = True

    def expect(self, pattern, timeout=DEADLINE, start=0):
        """Waits for pattern (regex bytes) in the output after start; returns the match."""
        rx = re.compile(pattern if isinstance(pattern, bytes) else pattern.encode())
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf, start)
            if m:
                return m
            left = end - time.monotonic()
            if left <= 0 or self.closed:
                raise AssertionError(f"no {pattern!r} in output: {self.buf[-800:]!r}")
            self._recv(min(left, 1.0))

    def expect_control(self, type_, timeout=DEADLINE):
        end = time.monotonic() + timeout
        while True:
            for c in self.controls:
                if c.get("type") == type_:
                    return c
            left = end - time.monotonic()
            if left <= 0 or self.closed:
                raise AssertionError(f"no {type_} control message: {self.controls}")
            self._recv(min(left, 1.0))

    def run(self, cmd, timeout=DEADLINE):
        """Runs cmd in the shell and waits until it has finished; returns its output."""
        self.seq += 1
        n = 1000 + self.seq
        start = len(self.buf)
        self.send(f"{cmd}; echo @@$(({n - 1}+1))@@\n")
        m = self.expect(rf"@@{n}@@".encode(), timeout, start)
        return self.buf[start:m.start()]

    def wait_closed(self, timeout=DEADLINE):
        end = time.monotonic() + timeout
        while not self.closed and time.monotonic() < end:
            self._recv(min(end - time.monotonic(), 1.0))
        return self.closed

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_for(fn, timeout=DEADLINE, step=0.02):
    """Polls fn() until it returns something truthy; returns it (or fails at the deadline)."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("condition not met before the deadline")
        time.sleep(step)


class Events:
    """A Server-Sent Events subscriber reading in a thread: of workspace ws_id, or of the
    stream at path (GET /api/events: ws_id None)."""

    def __init__(self, client, ws_id, cid=None, path=None):
        self.q = queue.Queue()
        self.r = client.s.get(client.server.url + (path or f"/api/workspaces/{ws_id}/events"),
                              params={"client": cid} if cid else None, stream=True, timeout=60)
        assert self.r.status_code == 200, self.r.text
        assert self.r.headers["Content-Type"].startswith("text/event-stream")
        self.t = threading.Thread(target=self._pump, daemon=True)
        self.t.start()

    def _pump(self):
        name = None
        try:
            for line in self.r.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name:
                    self.q.put((name, json.loads(line[6:])))
                    name = None
        except Exception:
            pass

    def expect(self, name, path, timeout=DEADLINE):
        return self.expect_data(name, timeout, path=path)[-1][1]

    def expect_data(self, name, timeout=DEADLINE, **fields):
        """Waits for an event name whose data has fields; returns every event taken from
        the stream until then (that one last)."""
        end = time.monotonic() + timeout
        seen = []
        while time.monotonic() < end:
            try:
                ev = self.q.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            seen.append(ev)
            if ev[0] == name and all(ev[1].get(k) == v for k, v in fields.items()):
                return seen
        raise AssertionError(f"no {name} with {fields}: {seen}")

    def close(self):
        self.r.close()


@pytest.fixture
def ws(user):
    return user.workspace("term")


def test_echo_hi(user, ws):
    t = Term(user, ws["id"])
    t.send("echo hi\n")
    t.expect(rb"[\r\n]hi\r\n")
    assert b"user@pyroom" in t.buf  # the friendly prompt
    assert b"xterm-256color" in t.run("echo $TERM")
    t.close()


def test_python_with_pandas(user, ws):
    t = Term(user, ws["id"])
    t.send("python3 -c \"import pandas; print('PV=' + pandas.__version__)\"\n")
    t.expect(rb"PV=\d+\.\d+", timeout=30)
    t.close()


def test_resize_then_stty_size(user, ws):
    t = Term(user, ws["id"])
    t.control({"type": "resize", "cols": 123, "rows": 45})
    t.send("stty size\n")
    t.expect(rb"[\r\n]45 123\r\n")
    # bad control messages are answered, not fatal
    t.control({"type": "resize", "cols": 0, "rows": 45})
    assert t.expect_control("error")["message"]
    t.close()


def test_terminal_file_reaches_store(user, ws):
    # How fast is measured by bench/terminal ("file sync"), not here.
    t = Term(user, ws["id"])
    t.run("mkdir -p sub && echo made-in-term > sub/t.txt")
    r = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
        user.get(f"/api/workspaces/{ws['id']}/files/sub/t.txt")))
    assert r.text == "made-in-term\n"
    # deleted in the terminal: deleted in the store
    t.run("rm sub/t.txt")
    wait_for(lambda: user.get(f"/api/workspaces/{ws['id']}/files/sub/t.txt").status_code == 404)
    # moved in the terminal (a folder with its files): moved in the store
    t.run("mkdir -p a/b && echo deep > a/b/f.txt")
    wait_for(lambda: user.get(f"/api/workspaces/{ws['id']}/files/a/b/f.txt").status_code == 200)
    t.run("mv a c")
    wait_for(lambda: user.get(f"/api/workspaces/{ws['id']}/files/c/b/f.txt").status_code == 200)
    wait_for(lambda: user.get(f"/api/workspaces/{ws['id']}/files/a").status_code == 404)
    t.close()


def test_api_put_is_catable_at_once(user, ws):
    t = Term(user, ws["id"])
    t.run("true")
    r = user.put(f"/api/workspaces/{ws['id']}/files/api.txt", data=b"from-api-123\n")
    assert r.status_code == 201, r.text
    out = t.run("cat api.txt")
    assert b"from-api-123" in out
    r = user.post(f"/api/workspaces/{ws['id']}/folders", json={"path": "newdir"})
    assert r.status_code == 201
    assert b"is-dir" in t.run("test -d newdir && echo is-$((0))dir | tr -d 0")
    r = user.delete(f"/api/workspaces/{ws['id']}/files/api.txt")
    assert r.status_code == 204
    assert b"gone-1" in t.run("test -e api.txt || echo gone-$((0+1))")
    t.close()


def test_reconnect_same_shell_and_scrollback(user, ws):
    t = Term(user, ws["id"], name="keep")
    t.run("export PYROOM_VAR=kept-$((20+22))")
    t.run("echo scroll-$((7*6))-back")
    t.close()
    t2 = Term(user, ws["id"], name="keep")
    t2.expect(rb"scroll-42-back")  # the scrollback is replayed
    assert b"kept-42-x" in t2.run("echo $PYROOM_VAR-x")
    t2.close()


def test_two_clients_one_terminal(user, ws):
    a = Term(user, ws["id"], name="shared")
    a.run("true")
    b = Term(user, ws["id"], name="shared")
    a.send("echo from-a-$((1+1))\n")
    a.expect(rb"from-a-2")
    b.expect(rb"from-a-2")
    b.send("echo from-b-$((2+2))\n")
    a.expect(rb"from-b-4")
    b.expect(rb"from-b-4")
    a.close()
    b.close()


def test_terminals_of_a_workspace_share_files_not_processes(user, ws):
    one = Term(user, ws["id"], name="one")
    two = Term(user, ws["id"], name="two")
    one.run("echo shared > both.txt && export ONLY_ONE=yes")
    assert b"shared" in two.run("cat both.txt")
    # each can change what the other made (one owner uid for the directory)
    two.run("echo changed >> both.txt")
    assert b"shared\r\nchanged" in one.run("cat both.txt")
    assert b"none-1" in two.run("echo ${ONLY_ONE:-none}-$((0+1))")
    one.close()
    two.close()


def test_exit_reports_code(user, ws):
    t = Term(user, ws["id"], name="ex")
    t.run("true")
    t.send("exit 3\n")
    assert t.expect_control("exit")["code"] == 3
    assert t.wait_closed()


def test_another_users_attach_is_refused(user, make_user, ws):
    other = make_user()
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        Term(other, ws["id"])
    assert e.value.status_code == 404


def test_wrong_origin_is_refused(user, ws):
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        Term(user, ws["id"], origin="http://evil.example")
    assert e.value.status_code == 403
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        Term(user, ws["id"], origin=False)  # a cookie without an Origin
    assert e.value.status_code == 403


def test_anonymous_and_bad_requests(server, user, ws):
    r = requests.get(f"{server.url}/api/workspaces/{ws['id']}/terminal")
    assert r.status_code == 401
    r = user.get(f"/api/workspaces/{ws['id']}/terminal", headers={"Origin": server.url})
    assert r.status_code == 400  # not a WebSocket handshake
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        Term(user, ws["id"], name="bad%20name")
    assert e.value.status_code == 400


def test_events_stream(user, ws):
    ev = Events(user, ws["id"])
    t = Term(user, ws["id"])
    t.run("echo x > ev.txt")
    got = ev.expect("file_changed", "ev.txt")
    assert len(got["etag"]) > 8
    r = user.put(f"/api/workspaces/{ws['id']}/files/ev2.txt", data=b"y")
    assert ev.expect("file_changed", "ev2.txt")["etag"] == r.json()["etag"]
    t.run("mkdir evdir")
    ev.expect("folder_created", "evdir")
    t.run("rm ev.txt")
    ev.expect("file_deleted", "ev.txt")
    ev.close()
    t.close()


def test_events_need_access(server, user, make_user, ws):
    other = make_user()
    assert other.get(f"/api/workspaces/{ws['id']}/events").status_code == 404
    assert requests.get(f"{server.url}/api/workspaces/{ws['id']}/events").status_code == 401


def test_limit_exceeded_told_on_terminal_and_as_event(user, ws):
    ev = Events(user, ws["id"])
    t = Term(user, ws["id"])
    t.run("head -c 2000000 /dev/zero > big.bin")  # the file limit is 1 MiB
    t.expect(rb"pyroom: big\.bin: not saved")
    got = ev.expect("limit_exceeded", "big.bin")
    assert "limit" in got["message"]
    assert user.get(f"/api/workspaces/{ws['id']}/files/big.bin").status_code == 404
    # a file that fits again is stored
    t.run("echo small > big.bin")
    wait_for(lambda: user.get(f"/api/workspaces/{ws['id']}/files/big.bin").text == "small\n")
    ev.close()
    t.close()


def test_simultaneous_edits_rule(user, ws):
    """The etag precondition both ways: neither side silently overwrites a newer save."""
    base = f"/api/workspaces/{ws['id']}/files/edit.py"
    r = user.put(base, data=b"v1\n")
    e1 = r.json()["etag"]
    t = Term(user, ws["id"])
    t.run("echo terminal >> edit.py")
    newer = wait_for(lambda: (lambda r: r if r.text == "v1\nterminal\n" else None)(user.get(base)))
    # The editor still holds v1: its save is refused (412) with the current version.
    r = user.put(base, data=b"editor\n", headers={"If-Match": f'"{e1}"'})
    assert r.status_code == 412
    assert r.json()["current"]["etag"] == newer.headers["ETag"].strip('"')
    # Saved on top of the current version, the editor's text reaches the terminal at once.
    r = user.put(base, data=b"editor\n", headers={"If-Match": newer.headers["ETag"]})
    assert r.status_code == 200
    assert b"editor" in t.run("cat edit.py")
    t.close()


def test_ten_megabyte_paste_stays_bounded(server, user, ws):
    t = Term(user, ws["id"], name="paste")
    t.run("true")
    before = rss_kib(server.proc.pid)
    t.send("stty -echo; echo READY-$((1+1)); wc -c; stty echo\n")
    t.expect(rb"READY-2")
    line = b"x" * 99 + b"\n"
    chunk = line * 655  # 65500 bytes
    total = 0
    peak = before
    t.ws.settimeout(60)  # sends block while the server applies backpressure
    while total < 10_000_000:
        n = min(len(chunk), 10_000_000 - total)
        t.ws.send_binary(chunk[:n])
        total += n
        if total % (1 << 20) < len(chunk):
            peak = max(peak, rss_kib(server.proc.pid))
    t.send(b"\x04")
    t.expect(rb"\b10000000\b", timeout=60)
    peak = max(peak, rss_kib(server.proc.pid))
    assert peak - before < 8 * 1024, (before, peak)  # KiB: far below the 10 MB pasted
    t.close()


def test_yes_flood_with_a_stalled_client_stays_bounded(server, user, ws):
    t = Term(user, ws["id"], name="flood")
    t.run("true")
    before = rss_kib(server.proc.pid)
    t.send("yes flood-line\n")
    t.expect(rb"flood-line\r\nflood-line")
    # Now read nothing for two seconds: the server must stop reading the PTY, not buffer.
    peak = before
    end = time.monotonic() + 2
    while time.monotonic() < end:
        peak = max(peak, rss_kib(server.proc.pid))
        time.sleep(0.05)  # sampling period, not synchronisation
    assert peak - before < 8 * 1024, (before, peak)
    t.send(b"\x03")
    t.send("echo stopped-$((3+4))\n")
    t.expect(rb"stopped-7", timeout=60)
    t.close()


def test_graceful_shutdown_ends_environments_and_stores_last_changes():
    srv = Server().start()
    try:
        c = Client(srv)
        w = c.workspace("shut")
        t = Term(c, w["id"])
        t.run("echo last-words > last.txt")
        envs = os.path.join(srv.tmp, "data", "envs", str(w["id"]))
        assert os.path.isdir(envs)
        rc = srv.stop()
        assert rc == 0
        assert t.wait_closed(5)
        assert any(m.get("type") in ("error", "exit") for m in t.controls), t.controls
        assert not os.path.exists(envs)
        srv2 = Server(database=srv.database).start()
        try:
            c.server = srv2
            assert c.get(f"/api/workspaces/{w['id']}/files/last.txt").text == "last-words\n"
        finally:
            assert srv2.stop() == 0
    finally:
        srv.stop()


def test_idle_timeout_ends_the_environment():
    srv = Server(extra=["--terminal-idle-timeout", "1"]).start()
    try:
        c = Client(srv)
        w = c.workspace("idle")
        t = Term(c, w["id"])
        t.run("export IDLE_VAR=set")
        envs = os.path.join(srv.tmp, "data", "envs", str(w["id"]))
        assert os.path.isdir(envs)
        t.close()
        wait_for(lambda: not os.path.exists(envs), timeout=15)
        t2 = Term(c, w["id"])
        assert b"unset-9" in t2.run("echo ${IDLE_VAR:-unset}-$((4+5))")
        t2.close()
    finally:
        assert srv.stop() == 0


def test_per_user_limit_and_100_terminals():
    srv = Server(extra=["--terminal-max-per-user", "10", "--terminal-max-per-workspace", "10",
                        "--max-runs-per-user", "2"]).start()
    terms = []
    try:
        c = Client(srv)
        wss = [c.workspace(f"w{i}") for i in range(11)]
        for w in wss[:10]:
            for n in range(10):
                terms.append(Term(c, w["id"], name=f"t{n}"))
        # the 11th environment of this user, and the 11th terminal of a workspace: 429
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            Term(c, wss[10]["id"])
        assert e.value.status_code == 429
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            Term(c, wss[0]["id"], name="t10")
        assert e.value.status_code == 429
        for i, t in enumerate(terms):
            t.send(f"echo alive-$(({i}+1000))\n")
        for i, t in enumerate(terms):
            t.expect(rf"alive-{i + 1000}".encode())
        assert len(terms) == 100
    finally:
        for t in terms:
            t.close()
        assert srv.stop() == 0


def test_second_node_joins_the_shell_of_the_lease_holder():
    """Two nodes on one database: a workspace's environment lives on one node at a time, and
    a terminal opened through the other node is proxied to it (the same shell)."""
    a = Server().start()
    b = Server(database=a.database).start()
    try:
        c = Client(a)
        w = c.workspace("lease")
        t = Term(c, w["id"])
        t.run("export WHERE=node-$((40+2))")
        cb = Client(b, username=c.username, register=False)
        assert cb.login().status_code == 200
        tb = Term(cb, w["id"])
        tb.seq = 100  # the scrollback replay holds t's markers
        assert b"node-42" in tb.run("echo $WHERE")
        tb.close()
        t.send("exit\n")
        t.expect_control("exit")
        # The lease is released when the environment ends: the other node starts its own.
        def attach():
            try:
                return Term(cb, w["id"])
            except websocket.WebSocketBadStatusException as e:
                assert e.status_code == 503
                return None
        t2 = wait_for(attach, step=0.1)
        assert b"node-b-2" in t2.run("echo node-b-$((1+1)) [$WHERE]")
        t2.close()
    finally:
        assert b.stop() == 0
        assert a.stop() == 0


def test_client_that_ignores_pings_is_dropped():
    srv = Server(extra=["--terminal-ping", "1"]).start()
    try:
        c = Client(srv)
        w = c.workspace("ping")
        t = Term(c, w["id"])
        t.run("true")
        # Read raw bytes without answering pings: the server must close within ~3 pings.
        sock = t.ws.sock
        sock.settimeout(1)
        end = time.monotonic() + 15
        closed = False
        while time.monotonic() < end and not closed:
            try:
                closed = sock.recv(65536) == b""
            except TimeoutError:
                pass
            except OSError:
                closed = True
        assert closed
        # A client that answers stays: websocket-client pongs while it reads.
        t2 = Term(c, w["id"])
        t2.run("true")
        end = time.monotonic() + 4
        while time.monotonic() < end:
            t2._recv(0.5)
        assert not t2.closed
        assert b"still-3" in t2.run("echo still-$((1+2))")
        t2.close()
    finally:
        assert srv.stop() == 0


def test_shell_boundaries(user, ws):
    """The shell holds no fd of the server's, cannot type into a terminal, has no network."""
    t = Term(user, ws["id"], name="sec")
    out = t.run("ls -l /proc/$$/fd/ /proc/self/fd/ | grep -- '->' | sed \"s/.*-> /FD$((1+1))=/\"")
    targets = set(re.findall(rb"FD2=(\S+)", out))
    assert targets and all(re.fullmatch(rb"/dev/pts/\d+|pipe:\[\d+\]|/proc/\d+/fd", x)
                           for x in targets), targets  # no socket, epoll, database file
    out = t.run("python3 -c \"import fcntl,termios; fcntl.ioctl(0, termios.TIOCSTI, b'x')\" "
                "2>&1 | tail -1")
    assert b"PermissionError: [Errno 1] Operation not permitted" in out, out
    out = t.run("python3 -c \"import socket; socket.create_connection(('1.1.1.1', 80), 2)\" "
                "2>&1 | tail -1")
    assert b"OSError: [Errno 101] Network is unreachable" in out, out
    t.close()
