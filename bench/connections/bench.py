"""bench/connections: many open Server-Sent Event streams on one node.

Opens N concurrent GET /api/workspaces/{id}/events streams (spread over several users)
against a server, and while they are all open measures the server's resident memory, its
thread count and the latency of GET /api/health (p50/p99 over sequential requests on one
kept-alive connection). Runs the same workload against a baseline binary (main's, thread
per connection) in the same run and prints both with their ratios.

usage: bench.py --new BIN [--old BIN] [--streams N] [--health 500]
"""
import argparse
import concurrent.futures
import os
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return int(out["VmRSS"].split()[0]) * 1024, int(out["Threads"])


class Node:
    def __init__(self, binary, extra):
        self.tmp = tempfile.mkdtemp(prefix="pyroom-bench-conn-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--database",
                f"sqlite:{self.tmp}/db", "--data-dir", f"{self.tmp}/data", "--access-log", "false",
                "--login-rate", "100000", "--max-connections-per-ip", "0"] + extra
        self.log = open(f"{self.tmp}/log", "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                if requests.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def make_user(url, i):
    s = requests.Session()
    r = s.post(url + "/api/auth/register", json={"username": f"bench{i}", "password": "benchmark-pass"},
               timeout=120)
    r.raise_for_status()
    csrf = r.json()["csrf_token"]
    w = s.post(url + "/api/workspaces", json={"name": "b"}, headers={"X-CSRF-Token": csrf},
               timeout=60).json()
    return s.cookies["pyroom_session"], w["id"]


def open_streams(node, users, n, timeout=300):
    """Opens n event streams, round-robin over users; returns the sockets once every one
    has its answer's headers (or the deadline passed) and how many did."""
    sel = selectors.DefaultSelector()
    socks = []
    pending = 0
    t0 = time.monotonic()
    i = 0
    ok = 0
    failed = 0
    while (i < n or pending) and time.monotonic() - t0 < timeout:
        # keep at most 500 handshakes in flight (the listen backlog, a loaded machine)
        while i < n and pending < 500:
            cookie, ws = users[i % len(users)]
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", node.port))
            req = (f"GET /api/workspaces/{ws}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Cookie: pyroom_session={cookie}\r\nAccept: text/event-stream\r\n\r\n").encode()
            st = {"s": s, "req": req, "sent": False, "got": b""}
            sel.register(s, selectors.EVENT_WRITE, st)
            socks.append(st)
            pending += 1
            i += 1
        for key, ev in sel.select(timeout=0.5):
            st = key.data
            if ev & selectors.EVENT_WRITE and not st["sent"]:
                try:
                    st["s"].send(st["req"])
                    st["sent"] = True
                    sel.modify(st["s"], selectors.EVENT_READ, st)
                except OSError:
                    sel.unregister(st["s"])
                    pending -= 1
                    failed += 1
                continue
            try:
                d = st["s"].recv(4096)
            except OSError:
                d = b""
            st["got"] += d
            if not d or b"\r\n\r\n" in st["got"]:
                sel.unregister(st["s"])
                pending -= 1
                if st["got"].startswith(b"HTTP/1.1 200"):
                    ok += 1
                else:
                    failed += 1
    return socks, ok, failed, time.monotonic() - t0


def health_latency(node, count):
    s = requests.Session()
    lat = []
    errors = 0
    for _ in range(count):
        a = time.monotonic()
        try:
            r = s.get(node.url + "/api/health", timeout=10)
            if r.status_code != 200:
                errors += 1
        except requests.RequestException:
            errors += 1
        lat.append((time.monotonic() - a) * 1000)
    lat.sort()
    return statistics.median(lat), lat[int(len(lat) * 0.99) - 1], errors


def run(label, binary, extra, n, per_user, health):
    node = Node(binary, extra + ["--max-connections", str(n + 2000)])
    try:
        rss0, thr0 = status(node.proc.pid)
        users_n = (n + per_user - 1) // per_user
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            users = list(ex.map(lambda i: make_user(node.url, i), range(users_n)))
        socks, ok, failed, secs = open_streams(node, users, n)
        rss, thr = status(node.proc.pid)
        p50, p99, errors = health_latency(node, health)
        for st in socks:
            st["s"].close()
        return {"label": label, "users": users_n, "open": ok, "failed": failed, "secs": secs,
                "rss0": rss0, "rss": rss, "threads0": thr0, "threads": thr, "p50": p50,
                "p99": p99, "health_errors": errors}
    finally:
        node.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--new", required=True)
    ap.add_argument("--old")
    ap.add_argument("--streams", type=int, default=10000)
    ap.add_argument("--health", type=int, default=500)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if a.streams + 100 > hard:
        sys.exit(f"bench/connections: {a.streams} streams need more than {hard} open files")
    print(f"bench/connections: {a.streams} open event streams, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    rows = [run("new", a.new, ["--max-event-streams-per-user", "1000", "--register-rate", "0"],
                a.streams, 1000, a.health)]
    if a.old:
        # main's server caps event streams at 16 per user (a constant): more users.
        rows.append(run("main", a.old, ["--register-rate", "0"], a.streams, 16, a.health))
    for r in rows:
        print(f"{r['label']:5s} users {r['users']:4d}  open {r['open']:5d}/{a.streams} "
              f"(failed {r['failed']}, {r['secs']:.1f} s)  RSS {r['rss0'] / 2**20:.0f} -> "
              f"{r['rss'] / 2**20:.0f} MiB  threads {r['threads0']} -> {r['threads']}  "
              f"/api/health p50 {r['p50']:.2f} ms p99 {r['p99']:.2f} ms "
              f"(errors {r['health_errors']})")
    if len(rows) == 2:
        n, o = rows
        print(f"ratios new/main: RSS {n['rss'] / o['rss']:.2f}, threads "
              f"{n['threads'] / o['threads']:.3f}, health p99 {n['p99'] / o['p99']:.2f}, "
              f"streams held {n['open'] / max(o['open'], 1):.2f}")


if __name__ == "__main__":
    main()
