"""bench/collab: presence (follow) and co-editing relay latency on loopback, against a plain
workspace event measured in the same run, and server memory per live document.

  follow       POST /presence by the leader until the `presence` event has arrived at each
               of F followers' event streams (F = 2 and 20), p50/p99 over every
               (request, follower) pair. The issue's aim: within 100 ms on loopback.
  keystroke    POST /docs/{path} with a 24-byte update (one Yjs keystroke is about that)
               until `doc_update` has arrived at each follower, p50/p99.
  baseline     PUT /files/{path} (a plain save) until `file_changed` has arrived at each
               follower: the existing event path, same streams, same run.
  memory       the server's RSS growth after D documents (default 200) each with U updates
               (default 50), per document; documents live in the database, so this is the
               request path's footprint, not a per-document cache.

Each stream is a raw socket read on its own thread, stamped with time.monotonic() when the
bytes arrive. 20 followers are 10 streams of the owner and 10 of an admin (a user may hold
16 streams). Env: N (rounds, default 200), D, U, PYROOM_TEST_DB/PYROOM_TEST_PG as the API
tests.
"""
import base64
import json
import os
import re
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "api"))
from conftest import Client, Server  # noqa: E402
from test_terminals import rss_kib  # noqa: E402

N = int(os.environ.get("N", "200"))
D = int(os.environ.get("D", "200"))
U = int(os.environ.get("U", "50"))
EVENT = re.compile(rb"event: (\w+)\ndata: ([^\n]*)\n")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


class RawStream:
    """GET /events on a socket; every event is (name, data, arrival time)."""

    def __init__(self, client, ws_id, cid):
        host, port = client.server.url[len("http://"):].split(":")
        self.sock = socket.create_connection((host, int(port)))
        cookie = "; ".join(f"{k}={v}" for k, v in client.s.cookies.items())
        self.sock.sendall(f"GET /api/workspaces/{ws_id}/events?client={cid} HTTP/1.1\r\n"
                          f"Host: {host}:{port}\r\nCookie: {cookie}\r\n"
                          "Accept: text/event-stream\r\n\r\n".encode())
        self.events = []
        self.cv = threading.Condition()
        self.closed = False
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        buf = b""
        while True:
            try:
                b = self.sock.recv(65536)
            except OSError:
                b = b""
            t = time.monotonic()
            if not b:
                break
            buf += b
            with self.cv:
                pos = 0
                for m in EVENT.finditer(buf):
                    self.events.append((m.group(1).decode(), json.loads(m.group(2)), t))
                    pos = m.end()
                buf = buf[pos:]
                self.cv.notify_all()
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    def wait(self, pred, timeout=10):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for e in self.events:
                    if pred(e[0], e[1]):
                        return e[2]
                left = end - time.monotonic()
                if left <= 0 or self.closed:
                    raise AssertionError("event did not arrive")
                self.cv.wait(left)

    def clear(self):
        with self.cv:
            self.events.clear()

    def close(self):
        self.sock.close()


def measure(streams, send, match):
    """Per round: t0, send(i), then the arrival at every stream; latencies in ms."""
    lat = []
    for i in range(N):
        for s in streams:
            s.clear()
        t0 = time.monotonic()
        send(i)
        for s in streams:
            lat.append((s.wait(lambda name, d: match(name, d, i)) - t0) * 1000)
    return lat


def fmt(name, xs):
    return f"  {name:<10} p50 {pct(xs, .5):7.2f} ms   p99 {pct(xs, .99):7.2f} ms"


def main():
    srv = Server().start()
    try:
        admin = Client(srv, username="admin")
        owner = Client(srv)
        w = owner.workspace("bench")
        wid = w["id"]
        assert owner.put(f"/api/workspaces/{wid}/files/main.py", data=b"x = 1\n").status_code == 200
        docs = f"/api/workspaces/{wid}/docs/main.py"
        r = owner.post(docs, json={"client": "lead", "update": base64.b64encode(b"S" * 24)
                                   .decode(), "snapshot": True})
        assert r.status_code == 201, r.text
        doc = r.json()["doc"]
        print(f"bench/collab: {N} rounds per figure, loopback, "
              f"{os.environ.get('PYROOM_TEST_DB', 'sqlite')}; machine shared (load "
              f"{os.getloadavg()[0]:.1f})")
        upd = base64.b64encode(os.urandom(24)).decode()
        for followers in (2, 20):
            streams = []
            for k in range(followers):
                who = owner if k < 10 else admin
                streams.append(RawStream(who, wid, f"f{followers}x{k}"))
            # every stream is live once the leader's join reaches it
            lead = RawStream(owner, wid, f"lead{followers}")
            for s in streams:
                s.wait(lambda n, d, c=f"lead{followers}": n == "presence_joined" and d["client"] == c)
            # (another file: a plain save of main.py would drop its document)
            base = measure(streams, lambda i: owner.put(
                f"/api/workspaces/{wid}/files/base.py", data=f"x = {i}\n".encode()),
                lambda n, d, i: n == "file_changed" and d["path"] == "base.py")
            follow = measure(streams, lambda i: owner.post(
                f"/api/workspaces/{wid}/presence",
                json={"client": "lead", "path": "main.py", "line": 1, "column": i % 50,
                      "scroll": i}),
                lambda n, d, i: n == "presence" and d["scroll"] == i)
            ids = {}

            def key(i):
                ids[i] = owner.post(docs, json={"client": "lead", "doc": doc, "update": upd}) \
                    .json()["id"]
            keys = measure(streams, key,
                           lambda n, d, i: n == "doc_update" and d["id"] == ids.get(i))
            print(f" {followers} followers:")
            print(fmt("baseline", base) + "   (PUT file -> file_changed)")
            print(fmt("follow", follow) + f"   ratio p50 {pct(follow, .5) / pct(base, .5):.2f}")
            print(fmt("keystroke", keys) + f"   ratio p50 {pct(keys, .5) / pct(base, .5):.2f}")
            within = sum(1 for x in follow if x <= 100) / len(follow)
            print(f"  follow within 100 ms: {within * 100:.1f}% of {len(follow)}")
            lead.close()
            for s in streams:
                s.close()
            # a compaction keeps the log short between rounds
            last = owner.get(docs).json()["items"][-1]["id"]
            owner.post(docs, json={"client": "lead", "doc": doc, "update": upd,
                                   "snapshot": True, "covers": last})

        # memory per live document
        for i in range(D):
            owner.put(f"/api/workspaces/{wid}/files/d{i}.py", data=b"pass\n")
        time.sleep(0.5)  # let the allocator settle before the reading (a measurement, not a sync)
        before = rss_kib(srv.proc.pid)
        t0 = time.monotonic()
        for i in range(D):
            url = f"/api/workspaces/{wid}/docs/d{i}.py"
            d = owner.post(url, json={"client": "m", "update": upd, "snapshot": True}).json()["doc"]
            for _ in range(U):
                owner.post(url, json={"client": "m", "doc": d, "update": upd})
        dt = time.monotonic() - t0
        after = rss_kib(srv.proc.pid)
        print(f" memory: {D} documents x {U} updates ({D * (U + 1) / dt:.0f} updates/s): server RSS "
              f"{before} -> {after} KiB, {(after - before) * 1024 / D:.0f} bytes per document "
              f"(documents are rows: {24 * (U + 1)} bytes of updates each in the database)")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
