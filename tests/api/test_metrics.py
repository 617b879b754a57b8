"""GET /metrics: who may read it, the text format (promtool), and counters that move when
runs, terminals, event streams and logins really happen; and the admin history behind
the charts."""
import os
import re
import shutil
import socket
import subprocess
import time

import pytest
import requests

from conftest import Client, Server, error_code
from test_terminals import Term

TOKEN = "scrape-" + "x" * 40
DEADLINE = 20

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels.items())): value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = dict(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return out


def value(samples, name, **labels):
    """The sum of name's samples whose labels include the given ones."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def scrape(srv):
    r = requests.get(srv.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                     timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return r.text


@pytest.fixture(scope="module")
def msrv():
    srv = Server(extra=["--metrics-token", TOKEN, "--runs-per-minute", "4",
                        "--login-rate", "3"]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def madmin(msrv):
    return Client(msrv, username="admin")


def test_metrics_needs_the_token_or_an_admin(msrv, madmin):
    url = msrv.url + "/metrics"
    r = requests.get(url, timeout=10)
    assert r.status_code == 401 and error_code(r) == "unauthenticated"
    r = requests.get(url, headers={"Authorization": "Bearer " + TOKEN[:-1] + "y"}, timeout=10)
    assert r.status_code == 401 and error_code(r) == "unauthenticated"
    r = requests.get(url, headers={"Authorization": "Bearer "}, timeout=10)
    assert r.status_code == 401
    someone = Client(msrv)
    r = someone.get("/metrics")
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = madmin.get("/metrics")
    assert r.status_code == 200 and "pyroom_build_info" in r.text
    r = requests.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 405


def test_without_a_token_setting_no_bearer_opens_it(server, admin):
    """The session-wide server has no --metrics-token: an empty bearer must not match it."""
    r = requests.get(server.url + "/metrics", headers={"Authorization": "Bearer "}, timeout=10)
    assert r.status_code == 401
    assert admin.get("/metrics").status_code == 200


def test_node_label_and_build_info(msrv, madmin):
    s = parse(scrape(msrv))
    node = f"{socket.gethostname()}:{msrv.port}"
    info = [ls for (n, ls) in s if n == "pyroom_build_info"]
    assert len(info) == 1
    labels = dict(info[0])
    assert labels["node"] == node and labels["version"] and labels["database"] in ("sqlite", "postgres")
    assert labels["sandbox"] in ("cgroup_v1", "cgroup_v2", "rlimit", "none")
    # every sample carries the node label
    assert all(dict(ls).get("node") == node for (_, ls) in s)
    assert value(s, "process_start_time_seconds") > 1.7e9
    assert value(s, "process_resident_memory_bytes") > 1 << 20
    assert value(s, "pyroom_run_slots") >= 1


def test_http_requests_by_route_template(msrv, madmin):
    w = madmin.workspace("m-http")
    before = parse(scrape(msrv))
    for _ in range(3):
        assert madmin.get(f"/api/workspaces/{w['id']}").status_code == 200
    assert madmin.get("/api/workspaces/999999").status_code == 404
    assert madmin.get("/api/nothing/here").status_code == 404
    after = parse(scrape(msrv))
    route = "/api/workspaces/{}"
    d = lambda **kw: value(after, "pyroom_http_requests_total", **kw) - value(
        before, "pyroom_http_requests_total", **kw)
    assert d(method="GET", route=route, status="200") == 3
    assert d(method="GET", route=route, status="404") == 1
    assert d(route="none", status="404") == 1
    # no series is named after a concrete path
    assert not [ls for (n, ls) in after if n == "pyroom_http_requests_total"
                and dict(ls)["route"].startswith("/api/workspaces/9")]
    hist = lambda s: value(s, "pyroom_http_request_duration_seconds_count", method="GET",
                           route=route)
    assert hist(after) - hist(before) == 4
    store = lambda s: value(s, "pyroom_store_call_duration_seconds_count")
    assert store(after) > store(before)


def test_a_hostile_method_is_not_a_label(msrv):
    before = parse(scrape(msrv))
    with socket.create_connection(("127.0.0.1", msrv.port), timeout=10) as c:
        c.sendall(b'BR"EW /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        c.recv(4096)
    text = scrape(msrv)
    assert "BR" not in re.sub(r"#.*", "", text)
    after = parse(text)
    moved = value(after, "pyroom_http_requests_total", method="other") - value(
        before, "pyroom_http_requests_total", method="other")
    assert moved in (0, 1)  # libmicrohttpd may refuse the request line before the handler


def test_runs_move_their_counters(msrv, madmin):
    w = madmin.workspace("m-runs")
    before = parse(scrape(msrv))
    for path, code in (("ok.py", "print(1)\n"), ("bad.py", "raise SystemExit(3)\n")):
        r = madmin.put(f"/api/workspaces/{w['id']}/files/{path}", data=code.encode())
        assert r.status_code in (200, 201), r.text
    r = madmin.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={"entry": "ok.py"})
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    r = madmin.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={"entry": "bad.py"})
    assert r.status_code == 200 and r.json()["status"] == "error", r.text
    after = parse(scrape(msrv))
    d = lambda name, **kw: value(after, name, **kw) - value(before, name, **kw)
    assert d("pyroom_runs_started_total") == 2
    assert d("pyroom_runs_finished_total", status="ok", limit="none") == 1
    assert d("pyroom_runs_finished_total", status="error", limit="none") == 1
    for phase in ("queue", "start", "program"):
        assert d("pyroom_run_phase_duration_seconds_count", phase=phase) == 2, phase
    assert d("pyroom_run_duration_seconds_count") == 2
    assert value(after, "pyroom_runs_running") == 0 and value(after, "pyroom_runs_queued") == 0


def test_run_rate_limit_is_counted(msrv):
    c = Client(msrv)
    w = c.workspace("m-rate")
    r = c.put(f"/api/workspaces/{w['id']}/files/main.py", data=b"pass\n")
    assert r.status_code in (200, 201)
    before = parse(scrape(msrv))
    codes = [c.post(f"/api/workspaces/{w['id']}/runs", json={}).status_code for _ in range(6)]
    assert codes.count(429) == 2 and codes.count(202) == 4, codes
    after = parse(scrape(msrv))
    d = lambda name, **kw: value(after, name, **kw) - value(before, name, **kw)
    assert d("pyroom_rate_limited_total", limit="runs_per_minute") == 2
    assert d("pyroom_runs_refused_total", reason="rate_limited") == 2


def test_login_failures_and_throttling(msrv, madmin):
    victim = Client(msrv)
    before = parse(scrape(msrv))
    s = requests.Session()
    codes = [s.post(msrv.url + "/api/auth/login",
                    json={"username": victim.username, "password": "wrong password!"},
                    timeout=30).status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429], codes
    after = parse(scrape(msrv))
    d = lambda name, **kw: value(after, name, **kw) - value(before, name, **kw)
    assert d("pyroom_login_failures_total", reason="password") == 3
    assert d("pyroom_login_failures_total", reason="throttled") == 2
    assert d("pyroom_rate_limited_total", limit="login") == 2


def wait_value(srv, name, want, **labels):
    end = time.monotonic() + DEADLINE
    while True:
        got = value(parse(scrape(srv)), name, **labels)
        if got == want or time.monotonic() > end:
            return got
        time.sleep(0.05)


def test_terminals_and_event_streams_are_gauges(msrv, madmin):
    w = madmin.workspace("m-term")
    before = parse(scrape(msrv))
    t = Term(madmin, w["id"])
    try:
        t.expect(r"\$ ")
        assert wait_value(msrv, "pyroom_terminals_live", 1) == 1
        s = parse(scrape(msrv))
        assert value(s, "pyroom_terminal_environments") == 1
        assert value(s, "pyroom_terminal_clients") == 1
        assert value(s, "pyroom_sandbox_slots_in_use") >= 1
        assert value(s, "pyroom_terminals_opened_total") - value(
            before, "pyroom_terminals_opened_total") == 1
    finally:
        t.close()


def test_event_streams_are_a_gauge(msrv):
    """Open while the stream is; back down when the server ends it (a logout ends the
    user's streams at once: no waiting for a keep-alive write to fail)."""
    c = Client(msrv)
    w = c.workspace("m-events")
    ev = c.s.get(msrv.url + f"/api/workspaces/{w['id']}/events", stream=True, timeout=30)
    try:
        assert ev.status_code == 200
        assert wait_value(msrv, "pyroom_event_streams_open", 1) == 1
        assert c.post("/api/auth/logout").status_code == 204
        assert wait_value(msrv, "pyroom_event_streams_open", 0) == 0
    finally:
        ev.close()


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool not installed (install-deps)")
def test_promtool_accepts_a_real_scrape(msrv, madmin):
    # some traffic first, so histograms and labelled families have series
    madmin.get("/api/auth/me")
    text = scrape(msrv)
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    assert p.returncode == 0 and not p.stdout and not p.stderr, (p.stdout + p.stderr).decode()


def test_history_for_the_charts(msrv, madmin):
    w = madmin.workspace("m-hist")
    r = madmin.put(f"/api/workspaces/{w['id']}/files/main.py", data=b"print(2)\n")
    assert r.status_code in (200, 201)
    before = madmin.get("/api/admin/metrics/history")
    assert before.status_code == 200
    runs = lambda body: sum(p["runs"]["ok"] for p in body["points"] if p["sampled"])
    r = madmin.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={})
    assert r.status_code == 200 and r.json()["status"] == "ok"
    body = madmin.get("/api/admin/metrics/history").json()
    assert body["step_seconds"] == 60 and len(body["points"]) == 60
    assert body["node"] == f"{socket.gethostname()}:{msrv.port}"
    assert runs(body) == runs(before.json()) + 1
    last = body["points"][-1]
    assert last["sampled"] and last["latency_p95_ms"] is not None and last["latency_p95_ms"] > 0
    assert last["latency_p50_ms"] <= last["latency_p95_ms"]
    assert Client(msrv).get("/api/admin/metrics/history").status_code == 403
    assert requests.get(msrv.url + "/api/admin/metrics/history", timeout=10).status_code == 401


def test_docs_list_every_family(msrv):
    """docs/operations.md names every family the server exports, and no other."""
    text = scrape(msrv)
    names = set(re.findall(r"^# HELP (\S+) ", text, re.M))
    assert len(names) > 20
    here = os.path.dirname(__file__)
    with open(os.path.join(here, "..", "..", "docs", "operations.md")) as f:
        doc = f.read()
    section = doc[doc.index("## Metrics"):doc.index("## Stopping")]
    documented = set(re.findall(r"`((?:pyroom|process)_[a-z_]+)`", section))
    assert names - documented == set(), "undocumented"
    assert documented - names == set(), "documented but not exported"
