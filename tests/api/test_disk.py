"""Disk and file safety (issue 12): limits the kernel enforces, a write-back that never
deletes what it did not see, fair admission. Black-box against a real server and real
sandboxes; every wait is a deadline on a condition."""
import os
import time

import pytest
import requests

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
    return {f["path"]: f for f in r.json()["items"]}


def content(c, w, path):
    r = c.get(f"/api/workspaces/{w['id']}/files/{path}")
    assert r.status_code == 200, r.text
    return r.content


def left_on_host(data_dir, sub="runs"):
    """What is left under data_dir/sub (runs, or envs/<id>: other tests' live terminals
    may hold other environments): entries, files owned by a slot uid, and workspace file
    systems still mounted there."""
    root = os.path.join(data_dir, sub)
    left = []
    if sub == "runs" and os.path.isdir(root):
        left += [os.path.join(sub, n) for n in os.listdir(root)]
    elif os.path.lexists(root):
        left.append(sub)
    for top, dirs, names in os.walk(root):
        for n in dirs + names:
            p = os.path.join(top, n)
            try:
                if os.lstat(p).st_uid >= SLOT_UID_BASE:
                    left.append(p)
            except FileNotFoundError:
                pass
    with open("/proc/self/mountinfo") as f:
        left += [l for l in f if root + "/" in l or l.split()[4] == root]
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


def env_gone(server, ws_id):
    return not os.path.exists(os.path.join(server.tmp, "data", "envs", str(ws_id)))


def test_deep_tree_in_a_terminal_is_stopped_and_the_terminal_reopens(server, user, ws):
    t = Term(user, ws["id"], name="deep")
    out = t.run("for i in $(seq 70); do mkdir d && cd d; done; "
                "for k in 1 2 3; do head -c 40M /dev/zero > big$k.bin || echo NOSPACE; done; "
                "cd ~", timeout=60)
    assert b"No space left on device" in out, out[-400:]
    t.send("exit 0\n")
    assert t.wait_closed()
    t.close()
    # The environment ends with its last terminal: its file system is unmounted and its
    # directory removed, whatever depth the tree had.
    wait_for(lambda: env_gone(server, ws["id"]))
    again = Term(user, ws["id"], name="deep2")
    assert b"2" in again.run("echo $((1+1))")
    again.send("exit 0\n")
    assert again.wait_closed()
    again.close()
    wait_for(lambda: env_gone(server, ws["id"]))
    data_dir = os.path.join(server.tmp, "data")
    assert left_on_host(data_dir, f"envs/{ws['id']}") == []


def test_300_mib_in_a_terminal_stops_at_the_limit(server, user, ws):
    t = Term(user, ws["id"], name="big")
    out = t.run("for i in 1 2 3 4 5 6; do head -c 50M /dev/zero > big$i.bin || echo NOSPACE; done; "
                "du -sm --apparent-size . | cut -f1", timeout=60)
    assert b"NOSPACE" in out, out[-400:]
    used_mib = int(out.strip().split()[-1])
    # the environment's file system: workspace limit (50M) + its files' pages + run-files
    # (50M); never the 300 MiB asked for
    assert used_mib < 120, used_mib
    t.run("rm -f big*.bin")
    t.send("exit 0\n")
    assert t.wait_closed()
    t.close()


def test_200000_files_stop_at_the_file_count_limit(user, ws):
    body = run(user, ws, """
import os
os.mkdir("many")
n = 0
try:
    for n in range(200000):
        open(f"many/{n}", "w").close()
except OSError as e:
    print("stopped at", n, e.strerror)
""")
    assert body["limit_hit"] == "disk", body
    assert "No space left on device" in body["stdout"], body
    stopped = int(body["stdout"].split()[2])
    assert 19000 < stopped < 21000, body["stdout"]


def test_run_writing_10000_files_keeps_every_existing_file_and_names_what_it_skipped(user):
    w = user.workspace("many-files")
    mine = {f"mywork_{i}.py": f"# my work {i}\n" for i in range(10)}
    for path, text in mine.items():
        put(user, w, path, text)
    body = run(user, w, """
import os
os.mkdir("out")
for i in range(10000):
    with open(f"out/{i}.txt", "w") as f:
        f.write("x")
""")
    assert body["status"] == "ok", body
    stored = files(user, w)
    for path, text in mine.items():
        assert path in stored, (path, body.get("notices"))
        assert content(user, w, path) == text.encode()
    notices = user.get(f"/api/runs/{body['id']}").json()["notices"]
    assert notices, body
    assert "past the workspace's file count" in notices
    assert "more entries were not saved" in notices
    # what was saved stays within the workspace limit (1000 entries by default)
    assert len(stored) <= 1000


def test_file_grown_past_the_file_limit_keeps_its_stored_version(user):
    w = user.workspace("grown")
    put(user, w, "data.csv", "a,b\n1,2\n")
    body = run(user, w, """
with open("data.csv", "a") as f:
    f.write("3,4\\n" * (2 << 20 >> 2))
""")
    assert body["status"] == "ok", body
    assert content(user, w, "data.csv") == b"a,b\n1,2\n"
    notices = user.get(f"/api/runs/{body['id']}").json()["notices"]
    assert "data.csv: not saved, larger than the file size limit; the stored version was kept" \
        in notices, notices
    # a late subscriber of the events sees the notices too, in the result
    with user.s.get(user.server.url + f"/api/runs/{body['id']}/events", stream=True,
                    timeout=30) as ev:
        text = ev.content.decode()
    assert "data.csv: not saved" in text


def test_a_file_the_api_accepted_at_depth_40_survives_a_run(user):
    w = user.workspace("deep-put")
    deep = "/".join(["d"] * 39) + "/deep.py"
    assert put(user, w, deep, "x = 1\n").status_code == 201
    body = run(user, w, "print('hi')\n")
    assert body["status"] == "ok", body
    assert content(user, w, deep) == b"x = 1\n"
    assert not user.get(f"/api/runs/{body['id']}").json()["notices"]


def test_run_changes_at_depth_40_are_saved(user):
    w = user.workspace("deep-run")
    deep = "/".join(["d"] * 39) + "/deep.py"
    put(user, w, deep, "x = 1\n")
    body = run(user, w, f"open({deep!r}, 'w').write('x = 2\\n')\n")
    assert body["status"] == "ok", body
    assert content(user, w, deep) == b"x = 2\n"


def test_one_users_queue_flood_leaves_another_users_run_accepted_and_next():
    srv = Server(extra=["--max-runs", "1", "--max-runs-per-user", "1", "--run-queue", "8",
                        "--max-queued-per-user", "3"]).start()
    try:
        a, b = Client(srv), Client(srv)
        wa, wb = a.workspace(), b.workspace()
        put(a, wa, "main.py", "import time\ntime.sleep(3)\n")
        put(b, wb, "main.py", "print('b')\n")
        flood = [a.post(f"/api/workspaces/{wa['id']}/runs", json={}) for _ in range(6)]
        codes = [r.status_code for r in flood]
        # one running, three waiting: the user's cap, far below the node's queue of 8
        assert codes == [202, 202, 202, 202, 429, 429], codes
        assert error_code(flood[4]) == "rate_limited"
        ids = [r.json()["id"] for r in flood[:4]]
        rb = b.post(f"/api/workspaces/{wb['id']}/runs", json={})
        assert rb.status_code == 202, rb.text
        bid = rb.json()["id"]
        status = lambda c, i: c.get(f"/api/runs/{i}").json()["status"]
        wait_for(lambda: status(b, bid) == "ok", timeout=30)
        # B went next, when A's first run freed the slot: none of A's other runs had its
        # turn before B (one slot: A's second run, 3 s long, would have ended before B
        # began). A's second may have started since B ended; the others still wait.
        rest = [status(a, i) for i in ids[1:]]
        assert rest[0] in ("queued", "running") and rest[1:] == ["queued"] * 2, rest
        for i in ids:
            a.post(f"/api/runs/{i}/cancel")
    finally:
        srv.stop()


def test_workspace_file_systems_are_nosuid_nodev_and_hide_the_host_path(server, user, ws):
    # a run: its mountinfo shows no host path for /home/user
    body = run(user, ws, "print(open('/proc/self/mountinfo').read())\n")
    assert body["status"] == "ok", body
    home = [l for l in body["stdout"].splitlines() if " /home/user " in l]
    assert home, body["stdout"]
    data_dir = os.path.join(server.tmp, "data")
    assert data_dir not in body["stdout"] and server.tmp not in body["stdout"]
    assert home[0].split()[3] == "/", home  # the bind's root is the file system's own root
    assert "nosuid" in home[0] and "nodev" in home[0], home
    # a terminal: a setuid copy of id planted there is useless on the host too
    t = Term(user, ws["id"], name="suid")
    t.run("cp /usr/bin/id myid && chmod 4755 myid")
    env = os.path.join(data_dir, "envs", str(ws["id"]))
    planted = os.path.join(env, "myid")
    wait_for(lambda: os.path.exists(planted))
    flags = os.statvfs(planted).f_flag
    assert flags & os.ST_NOSUID and flags & os.ST_NODEV, flags
    t.send("exit 0\n")
    assert t.wait_closed()
    t.close()
    wait_for(lambda: env_gone(server, ws["id"]))


@pytest.mark.parametrize("plant", ["mkfifo notes.txt", "ln -s /etc/passwd notes.txt"])
def test_put_over_a_planted_special_file_reaches_the_terminal(user, plant):
    w = user.workspace("plant")
    put(user, w, "notes.txt", "v1\n")
    t = Term(user, w["id"], name="plant")
    t.run(f"rm -f notes.txt && {plant}")
    r = put(user, w, "notes.txt", "v2 from the editor\n")
    assert r.status_code in (200, 201)
    wait_for(lambda: b"v2 from the editor" in t.run("cat notes.txt 2>&1 || true"))
    assert b"regular file" in t.run("stat -c %F notes.txt")
    t.send("exit 0\n")
    assert t.wait_closed()
    t.close()
    # the stored file outlives the terminal
    wait_for(lambda: env_gone(user.server, w["id"]))
    assert content(user, w, "notes.txt") == b"v2 from the editor\n"


def test_register_is_rate_limited_per_client_address():
    srv = Server(extra=["--register-rate", "3"]).start()
    try:
        codes = []
        for i in range(4):
            r = requests.post(srv.url + "/api/auth/register",
                              json={"username": f"reg{i}", "password": "correct horse battery"})
            codes.append(r.status_code)
        assert codes == [201, 201, 201, 429], codes
        assert error_code(r) == "rate_limited" and int(r.headers["Retry-After"]) >= 1
        # an address's limit is its own: logins are not affected
        r = requests.post(srv.url + "/api/auth/login",
                          json={"username": "reg0", "password": "correct horse battery"})
        assert r.status_code == 200, r.text
    finally:
        srv.stop()


def test_kill9_mid_run_leaves_nothing_after_the_restart():
    srv = Server().start()
    try:
        c = Client(srv)
        w = c.workspace()
        put(c, w, "main.py", "import os, shutil, time\n"
                             "p = '/'.join(['d'] * 70)\nos.makedirs(p)\n"
                             "shutil.copy('/usr/bin/id', p + '/myid')\nos.chmod(p + '/myid', 0o4755)\n"
                             "print('planted', flush=True)\ntime.sleep(60)\n")
        r = c.post(f"/api/workspaces/{w['id']}/runs", json={}).json()
        with c.s.get(srv.url + f"/api/runs/{r['id']}/events", stream=True, timeout=60) as ev:
            for line in ev.iter_lines():
                if b"planted" in line:
                    break
        data_dir = os.path.join(srv.tmp, "data")
        assert left_on_host(data_dir)  # the run's file system is there while it runs
        srv.kill9()
        srv.start()
        wait_for(lambda: not left_on_host(data_dir))
        assert left_on_host(data_dir) == []
    finally:
        srv.stop()
