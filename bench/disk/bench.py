"""bench/disk: what the per-run workspace file system costs and how fast it stops a writer.

Same run, each figure with its baseline:
  - mount(2) of a size/inode-limited tmpfs + umount2 against mkdir + rmdir of a plain
    directory (the old per-run scratch directory), in a private mount namespace;
  - end-to-end latency of a print(1) run (the baseline) against: a run that fills its file
    system with 3 x 40 MiB at depth 70 (stopped by ENOSPC), a run that creates files until
    the inode limit, and a run that leaves 10,000 files for the write-back to sort out.
Needs root (mount). The machine is shared: read ratios, not absolute times.
"""
import ctypes
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "api"))
from conftest import Client, Server  # noqa: E402

N = int(os.environ.get("BENCH_RUNS", "10"))
MS_NOSUID, MS_NODEV, MNT_DETACH, CLONE_NEWNS = 2, 4, 2, 0x20000
libc = ctypes.CDLL(None, use_errno=True)


def mount_cost(n=2000):
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    libc.mount(b"none", b"/", None, (1 << 14) | (1 << 18), None)  # MS_REC | MS_PRIVATE
    d = tempfile.mkdtemp(prefix="bench-disk-")
    p = os.path.join(d, "ws").encode()
    t0 = time.perf_counter()
    for _ in range(n):
        os.mkdir(p)
        os.rmdir(p)
    plain = (time.perf_counter() - t0) / n
    opts = b"size=104857600,nr_inodes=21000,mode=0755"
    t0 = time.perf_counter()
    for _ in range(n):
        os.mkdir(p)
        if libc.mount(b"pyroom-ws", p, b"tmpfs", MS_NOSUID | MS_NODEV, opts) != 0:
            raise OSError(ctypes.get_errno(), "mount")
        libc.umount2(p, MNT_DETACH)
        os.rmdir(p)
    fs = (time.perf_counter() - t0) / n
    os.rmdir(d)
    return plain, fs


def timed_run(c, w, code):
    r = c.put(f"/api/workspaces/{w['id']}/files/main.py", data=code.encode())
    assert r.status_code in (200, 201), r.text
    t = time.perf_counter()
    r = c.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={})
    took = time.perf_counter() - t
    body = r.json()
    return took, body


PROGRAMS = {
    "deep 3x40MiB": ("import os\nos.makedirs('/'.join(['d'] * 70), exist_ok=True)\n"
                     "os.chdir('/'.join(['d'] * 70))\n"
                     "try:\n    [open(f'b{k}', 'wb').write(b'x' * (40 << 20)) for k in range(3)]\n"
                     "except OSError as e:\n    print(e.strerror)\n"),
    "files to the inode limit": ("import os\nos.makedirs('m', exist_ok=True)\ntry:\n"
                                 "    for n in range(200000): open(f'm/{n}', 'w').close()\n"
                                 "except OSError as e:\n    print(n, e.strerror)\n"),
    "10,000 files written back": ("import os\nos.makedirs('out', exist_ok=True)\n"
                                  "for i in range(10000):\n"
                                  "    open(f'out/{i}', 'w').write('x')\n"),
}


def main():
    pid = os.fork()
    if pid == 0:  # the namespace stays with the child
        plain, fs = mount_cost()
        print(f"scratch dir mkdir+rmdir      {plain * 1e6:8.1f} us")
        print(f"tmpfs mount+umount (+dir)    {fs * 1e6:8.1f} us   ratio {fs / plain:.1f}x")
        os._exit(0)
    os.waitpid(pid, 0)
    srv = Server().start()
    try:
        c = Client(srv)
        w = c.workspace()
        base = [timed_run(c, w, "print(1)\n")[0] for _ in range(N)]
        b = statistics.median(base)
        print(f"print(1) run (baseline)      {b * 1000:8.1f} ms median of {N}")
        for name, code in PROGRAMS.items():
            xs, last = [], None
            for _ in range(max(3, N // 3)):
                took, last = timed_run(c, w, code)
                xs.append(took)
            m = statistics.median(xs)
            print(f"{name:28} {m * 1000:8.1f} ms   ratio {m / b:.1f}x   "
                  f"limit_hit={last['limit_hit']} wall_ms={last['wall_ms']} "
                  f"stdout={last['stdout'].strip()[:40]!r}")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
