"""bench/terminal: pyroom's terminal against a direct PTY, measured in the same run.

  echo latency  N keystrokes (default 1000), each sent alone and timed until its echo is
                back, p50/p99: through pyroom (WebSocket -> epoll loop -> PTY of a sandboxed
                bash -> loop -> WebSocket) and on a PTY opened here (os.openpty + bash), the
                same program (`cat > /dev/null`, so the echo is the terminal's own) on both.
  bulk output   `head -c 50M /dev/zero | base64` to the end marker, MiB/s, both ways.
  memory        per idle terminal: the server's RSS growth and the machine's MemAvailable
                drop, divided by the number of terminals opened (at a prompt, no client I/O).
  file sync     a file written in the terminal until GET .../files/PATH returns it, p50/p99
                over SYNC_N files (default 20); baseline: a PUT of the same file through the
                API until the GET returns it. (Was a "< 1 s" bound inside tests/api.)
"""
import os
import re
import select
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "api"))
from conftest import Client, Server  # noqa: E402
from test_terminals import Term, rss_kib  # noqa: E402

N = int(os.environ.get("N", "1000"))
IDLE = int(os.environ.get("IDLE", "20"))
SYNC_N = int(os.environ.get("SYNC_N", "20"))
KEYS = b"abcdefghijklmnopqrstuvwxyz"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


class DirectPty:
    """bash on a PTY of our own: the baseline."""

    def __init__(self):
        self.master, slave = os.openpty()
        env = dict(os.environ, TERM="xterm-256color", PS1="$ ", HOME="/tmp")
        self.p = subprocess.Popen(["bash", "--norc", "--noprofile", "-i"], stdin=slave,
                                  stdout=slave, stderr=slave, env=env, start_new_session=True,
                                  close_fds=True)
        os.close(slave)
        self.buf = b""

    def send(self, b):
        os.write(self.master, b)

    def expect(self, pattern, timeout=60):
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while not rx.search(self.buf):
            r, _, _ = select.select([self.master], [], [], max(0, end - time.monotonic()))
            if not r:
                raise TimeoutError(pattern)
            self.buf += os.read(self.master, 1 << 16)
        m = rx.search(self.buf)
        self.buf = self.buf[m.end():]
        return m

    def read_some(self):
        select.select([self.master], [], [], 10)
        return os.read(self.master, 1 << 16)

    def close(self):
        self.p.kill()
        self.p.wait()
        os.close(self.master)


class PyroomPty:
    def __init__(self, c, wid, name):
        self.t = Term(c, wid, name=name, timeout=60)

    def send(self, b):
        self.t.send(b)

    def expect(self, pattern, timeout=60):
        m = self.t.expect(pattern, timeout)
        self.t.buf = self.t.buf[m.end():]
        return m

    def read_some(self):
        self.t.ws.settimeout(10)
        while True:
            op, data = self.t.ws.recv_data()
            if op == 2:
                return data

    def close(self):
        self.t.close()


def echo_latency(p):
    p.send(b"stty -echoctl; echo R-$((1+1)); cat > /dev/null\n")
    p.expect(rb"R-2")
    times = []
    for i in range(N):
        k = KEYS[i % len(KEYS):i % len(KEYS) + 1]
        if i and i % 60 == 0:
            p.send(b"\n")
            p.expect(rb"\r\n")
        t = time.perf_counter()
        p.send(k)
        got = b""
        while k not in got:
            got += p.read_some()
        times.append((time.perf_counter() - t) * 1000)
    p.send(b"\n\x04")  # end cat's line, then EOF
    return times


def bulk(p):
    p.send(b"echo S-$((1+1))\n")
    p.expect(rb"S-2")
    t = time.perf_counter()
    p.send(b"head -c 50M /dev/zero | base64; echo E-$((2+3))\n")
    total = 0
    tail = b""
    while True:
        d = p.read_some()
        total += len(d)
        tail = (tail + d)[-64:]
        if b"E-5" in tail:
            break
    secs = time.perf_counter() - t
    return total / secs / (1 << 20), total


def visible_ms(c, w, path, body, t0, deadline_s=30):
    """Milliseconds from t0 until GET of path returns body."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        r = c.get(f"/api/workspaces/{w['id']}/files/{path}")
        if r.status_code == 200 and r.content == body:
            return (time.perf_counter() - t0) * 1000
        time.sleep(0.005)
    raise AssertionError(f"{path} never became visible")


def file_sync(c, w):
    t = Term(c, w["id"], name="sync", timeout=60)
    t.run("true")
    api, term = [], []
    for i in range(SYNC_N):
        body = b"sync-%d\n" % i
        t0 = time.perf_counter()
        c.put(f"/api/workspaces/{w['id']}/files/api-{i}.txt", data=body)
        api.append(visible_ms(c, w, f"api-{i}.txt", body, t0))
        t0 = time.perf_counter()
        t.run(f"echo sync-{i} > term-{i}.txt")
        term.append(visible_ms(c, w, f"term-{i}.txt", body, t0))
    t.close()
    return api, term


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def main():
    srv = Server(extra=["--access-log", "false", "--terminal-max-per-workspace", str(IDLE + 2),
                        "--terminal-max-per-user", "4"]).start()
    try:
        c = Client(srv)
        w = c.workspace("bench")
        d = DirectPty()
        lat_base = echo_latency(d)
        mib_base, bytes_base = bulk(d)
        d.close()
        p = PyroomPty(c, w["id"], "bench")
        p.expect(rb"\$ ")
        lat = echo_latency(p)
        mib, nbytes = bulk(p)
        p.close()
        print(f"terminal echo latency over {N} keystrokes (ms):")
        print(f"  direct pty   p50 {pct(lat_base, .5):.3f}  p99 {pct(lat_base, .99):.3f}")
        print(f"  pyroom       p50 {pct(lat, .5):.3f}  p99 {pct(lat, .99):.3f}  "
              f"(x{pct(lat, .5) / pct(lat_base, .5):.2f} at p50)")
        print("bulk output, head -c 50M /dev/zero | base64:")
        print(f"  direct pty   {mib_base:.1f} MiB/s ({bytes_base / (1 << 20):.1f} MiB)")
        print(f"  pyroom       {mib:.1f} MiB/s ({nbytes / (1 << 20):.1f} MiB)  "
              f"(x{mib / mib_base:.2f})")
        # Memory per idle terminal.
        w2 = c.workspace("idle")
        rss0, avail0 = rss_kib(srv.proc.pid), mem_available_kib()
        terms = []
        for i in range(IDLE):
            t = Term(c, w2["id"], name=f"i{i}", timeout=60)
            t.expect(rb"\$ ")
            terms.append(t)
        rss1, avail1 = rss_kib(srv.proc.pid), mem_available_kib()
        print(f"memory per idle terminal ({IDLE} open, each at its prompt with a client):")
        print(f"  server RSS   {(rss1 - rss0) / IDLE:.0f} KiB")
        print(f"  machine      {(avail0 - avail1) / IDLE:.0f} KiB (MemAvailable drop: shell, "
              f"sandbox pid 1, cgroups, server)")
        for t in terms:
            t.close()
        api, term = file_sync(c, c.workspace("sync"))
        print(f"file sync over {SYNC_N} files, written until GET returns it (ms):")
        print(f"  API PUT      p50 {pct(api, .5):.1f}  p99 {pct(api, .99):.1f}")
        print(f"  terminal     p50 {pct(term, .5):.1f}  p99 {pct(term, .99):.1f}  "
              f"(x{pct(term, .5) / pct(api, .5):.1f} at p50)")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
