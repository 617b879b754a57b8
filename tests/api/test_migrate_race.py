"""Nodes started together on one fresh database: every node comes up and is ready, each
migration is applied exactly once, and `pyroom migrate` run N times at once succeeds N
times. PostgreSQL (its own cluster, see test_ready.py) and SQLite (one file shared by the
nodes of one host).
"""
import concurrent.futures
import os
import sqlite3
import subprocess
import tempfile

import pytest
import requests

from conftest import BIN, Server
from test_ready import own_pg  # noqa: F401  (a fixture)

NODES = 4


def versions_pg(url):
    out = subprocess.run(["psql", url, "-At", "-c", "SELECT version FROM schema_version"],
                         capture_output=True, text=True, check=True).stdout
    return sorted(int(x) for x in out.split())


def versions_sqlite(path):
    with sqlite3.connect(path) as c:
        return sorted(v for (v,) in c.execute("SELECT version FROM schema_version"))


def fresh(kind, pg_url, tmp):
    if kind == "postgres":
        name = "race_" + os.urandom(4).hex()
        subprocess.run(["psql", pg_url, "-q", "-c", f"CREATE DATABASE {name}"], check=True,
                       capture_output=True)
        url = pg_url.rsplit("/", 1)[0] + "/" + name
        return url, lambda: versions_pg(url)
    path = os.path.join(tmp, "race.db")
    return "sqlite:" + path, lambda: versions_sqlite(path)


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_nodes_started_together_migrate_once(own_pg, kind):  # noqa: F811
    tmp = tempfile.mkdtemp(prefix="pyroom-race-")
    url, versions = fresh(kind, own_pg[0], tmp)
    nodes = [Server(database=url) for _ in range(NODES)]
    try:
        with concurrent.futures.ThreadPoolExecutor(NODES) as ex:
            list(ex.map(lambda s: s.start(), nodes))
        for s in nodes:
            r = requests.get(s.url + "/api/ready", timeout=30)
            assert r.status_code == 200, (s.url, r.text)
        v = versions()
        assert v == list(range(1, len(v) + 1)) and len(v) > 0, v
    finally:
        for s in nodes:
            if s.proc:
                assert s.stop() == 0
    # `pyroom migrate` N times at once on another fresh database: all succeed, once each.
    url, versions = fresh(kind, own_pg[0], tmp)
    procs = [subprocess.Popen([BIN, "migrate", "--database", url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(NODES)]
    results = [(p.wait(60), p.stderr.read().decode()) for p in procs]
    assert [rc for rc, _ in results] == [0] * NODES, results
    v = versions()
    assert v == list(range(1, len(v) + 1)) and len(v) > 0, v
