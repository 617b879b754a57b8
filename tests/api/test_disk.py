"""Disk and file safety (issue 12): limits the kernel enforces, a write-back that never
deletes what it did not see, fair admission. Black-box against a real server and real
sandboxes; every wait is a deadline on a condition."""
import os
import time

import pytest

from conftest import Client, Server, error_code
from test_terminals import Term, wait_for

SLOT_UID_BASE = 2000000000
MiB = 1 << 20


def put(c, w, path, data):
    r = c.put(f"/api/workspaces/{w['id']}/files/{path}",
              data=data if isinstance(data, bytes) else data.encode())
    assert r.status_code in (200, 201), r.text
    return r


def run(c, w, code, **body):
    put(c, w, "main.py", code)
    r = c.post(f"/api/workspaces/{w['id']}/runs?wait=1", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def files(c, w):
    r = c.get(f"/api/workspaces/{w['id']}/files")
    assert r.status_code == 200, r.text
    body = r.json()
    items = body["files"] if isinstance(body, dict) else body
    return {f["path"]: f for f in items}


def content(c, w, path):
    r = c.get(f"/api/workspaces/{w['id']}/files/{path}")
    assert r.status_code == 200, r.text
    return r.content


def left_on_host(data_dir):
    """Entries under data_dir/runs and data_dir/envs, files owned by a slot uid anywhere
    under data_dir, and workspace file systems still mounted there."""
    left = []
    for sub in ("runs", "envs"):
        d = os.path.join(data_dir, sub)
        if os.path.isdir(d):
            left += [os.path.join(sub, n) for n in os.listdir(d)]
    for root, dirs, names in os.walk(data_dir):
        for n in dirs + names:
            p = os.path.join(root, n)
            try:
                if os.lstat(p).st_uid >= SLOT_UID_BASE:
                    left.append(p)
            except FileNotFoundError:
                pass
    with open("/proc/self/mountinfo") as f:
        left += [l for l in f if data_dir in l]
    return left


@pytest.fixture
def ws(user):
    return user.workspace("disk")


DEEP_AND_BIG = """
import os
for i in range(70):
    os.mkdir("d")
    os.chdir("d")
try:
    for k in range(3):
        with open(f"big{k}.bin", "wb") as f:
            f.write(b"x" * (40 << 20))
except OSError as e:
    print("stopped:", e.strerror)
"""


def test_deep_tree_with_120_mib_hits_disk_and_leaves_nothing(server, user, ws):
    body = run(user, ws, DEEP_AND_BIG)
    assert body["limit_hit"] == "disk", body
    assert body["status"] == "limit", body
    data_dir = os.path.join(server.tmp, "data")
    wait_for(lambda: not left_on_host(data_dir))
    assert left_on_host(data_dir) == []
