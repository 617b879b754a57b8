"""/api/ready follows the database: a PostgreSQL that stops makes the node unready (503, so
a load balancer takes it out) while /api/health stays 200 (the process is alive), and ready
again once PostgreSQL is back. Runs in both API suites: it brings its own PostgreSQL cluster
(scripts/pg.sh with a private state file) because it stops it.
"""
import os
import subprocess
import time

import pytest
import requests

from conftest import ROOT, Server, error_code

PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
DEADLINE = 30


def as_pg(args):
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--"] + args
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


@pytest.fixture
def own_pg(tmp_path):
    env = dict(os.environ, PYROOM_PG_STATE=str(tmp_path / "pg.state"))
    pg = subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "start"], env=env,
                        capture_output=True, text=True, timeout=120)
    assert pg.returncode == 0, pg.stderr
    d = (tmp_path / "pg.state").read_text().splitlines()[0]
    yield pg.stdout.strip(), os.path.join(d, "data")
    subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "stop"], env=env,
                   capture_output=True, timeout=120)


def wait_status(url, want):
    end = time.monotonic() + DEADLINE
    while True:
        r = requests.get(url, timeout=DEADLINE)
        if r.status_code == want or time.monotonic() > end:
            return r
        time.sleep(0.1)


def test_ready_follows_postgresql(own_pg):
    url, data = own_pg
    srv = Server(database=url).start()
    try:
        r = requests.get(srv.url + "/api/ready", timeout=DEADLINE)
        assert (r.status_code, r.json()) == (200, {"status": "ready", "database": "postgres"})
        assert as_pg([PGBIN + "/pg_ctl", "stop", "-D", data, "-m", "immediate", "-w"]).returncode == 0
        r = wait_status(srv.url + "/api/ready", 503)
        assert r.status_code == 503, r.text
        assert error_code(r) == "unavailable"
        assert requests.get(srv.url + "/api/health", timeout=DEADLINE).status_code == 200
        port = url.rsplit(":", 1)[1].split("/")[0]
        sock = os.path.join(os.path.dirname(data), "sock")
        st = as_pg([PGBIN + "/pg_ctl", "start", "-D", data, "-l", os.path.dirname(data) + "/log",
                    "-w", "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {sock}"])
        assert st.returncode == 0, st.stderr
        r = wait_status(srv.url + "/api/ready", 200)
        assert r.status_code == 200, r.text
    finally:
        assert srv.stop() == 0
