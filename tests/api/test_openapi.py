"""The OpenAPI document and what must agree with it: the served bytes, the error table
(src/api/errors.h) against every error the server's source can send and against
docs/api.md, and the Server-Sent Event names against the server and the page."""
import glob
import json
import os
import re

import requests

import openapi_check
from conftest import ROOT, error_code

import sys
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import codes  # noqa: E402  (the C tables)


def table():
    return {c["code"]: c["status"] for c in openapi_check.doc()["x-error-codes"]}


def src(*parts):
    out = {}
    for pattern in parts:
        for p in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            with open(p) as f:
                out[os.path.relpath(p, ROOT)] = f.read()
    return out


def test_served_document_is_the_build(server):
    r = requests.get(server.url + "/api/openapi.json", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    with open(openapi_check.DOC_PATH, "rb") as f:
        assert r.content == f.read()
    d = r.json()
    assert d["openapi"] == "3.1.0" and len(d["paths"]) > 30


def test_docs_page_is_the_app(server):
    r = requests.get(server.url + "/api/docs", timeout=10)
    # the page's index.html (or 503 unavailable when web/dist is not built)
    if r.status_code == 503:
        assert error_code(r) == "unavailable"
    else:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")


def test_every_error_the_source_sends_is_in_the_table():
    codes = table()
    sent = []
    for path, text in src("src/**/*.c").items():
        flat = re.sub(r"\s+", " ", text)
        for status, code in re.findall(r'http_reply_error\([\w>-]+, (\d{3}), "(\w+)"', flat):
            sent.append((path, int(status), code))
        for code in re.findall(r'"error", "code", "(\w+)"', flat):
            sent.append((path, None, code))
        # api/: the code is a token of the table (a wrong one does not compile), the
        # status the table's
        for code in re.findall(r'api_reply_error\([\w>.-]+, (\w+),', flat):
            sent.append((path, None, code))
        for code in re.findall(r'api_error_name\(API_ERR_(\w+)\)', flat):
            sent.append((path, None, code))
        # api/lang.c builds its answers on the language loop's thread (answer_error)
        for code in re.findall(r'answer_error\(API_ERR_(\w+),', flat):
            sent.append((path, None, code))
        # the HTTP core's own refusals, and answers written out as JSON text
        for status, code in re.findall(r'refuse\(st, (\d{3}), "(\w+)"', flat):
            sent.append((path, int(status), code))
        for code in re.findall(r'\\"code\\":\\"(\w+)\\"', flat):
            sent.append((path, None, code))
    assert len(sent) > 80
    for path, status, code in sent:
        assert code in codes, f"{path}: error code {code} is not in src/api/errors.h"
        if status is not None:
            assert codes[code] == status, f"{path}: {code} sent as {status}, table {codes[code]}"
    # and every code of the table is sent somewhere
    assert set(codes) - {c for _, _, c in sent} == set()


def test_docs_api_md_error_codes_match_the_table():
    """The Conventions list of docs/api.md: `STATUS code/code` groups, every code of the
    table with its status, no code the server does not have (was: bad_origin)."""
    codes = table()
    with open(os.path.join(ROOT, "docs", "api.md")) as f:
        md = f.read()
    conv = md[md.index("- **Errors**"):md.index("- **Ids**")]
    listed = {}
    for status, group in re.findall(r"(\d{3}) ((?:`\w+`/?)+)", conv):
        for code in re.findall(r"`(\w+)`", group):
            listed[code] = int(status)
    assert listed == codes
    # any other `snake_code` the page mentions next to an error status is a real code
    for status, code in re.findall(r"\b(4\d\d|5\d\d) `([a-z_]+)`", md):
        assert code in codes and codes[code] == int(status), f"docs/api.md: {status} {code}"


def server_sse_names():
    """The event names the server sends: the table in src/base/events.h. The emitting code
    names them with EVENT_WS()/EVENT_RUN() (a name outside the table does not compile);
    test_no_event_name_is_a_free_string keeps it that way."""
    ws = {n for n, _ in codes.event_table("workspace")}
    run = {n for n, _ in codes.event_table("run")}
    return ws, run


def user_sse_names():
    """The events of GET /api/events (EVENT_USER())."""
    return {n for n, _ in codes.event_table("user")}


def test_no_event_name_is_a_free_string():
    """Where events are published, stored or framed, the name comes from the table."""
    files = src("src/api/*.c", "src/exec/*.c", "src/workspace/*.c")
    patterns = [r'api_events_publish\([^,]+, "', r'cluster_send_event\([^,]+, [^,]+, "',
                r'add_event\([^,]+, [^,]+, [^,;]*"', r'"event: [a-z_]+\\n',
                r'names\[3\] = \{\s*"']
    for path, text in files.items():
        flat = re.sub(r"\s+", " ", text)
        for p in patterns:
            assert not re.search(p, flat), f"{path}: an event name as a free string ({p})"
    ws, run = server_sse_names()
    emitted = "".join(files.values())
    for name in ws:
        assert f"EVENT_WS({name})" in emitted or f"EVENT_WS_{name}" in emitted, name
    for name in run:
        assert f"EVENT_RUN({name})" in emitted, name
    for name in user_sse_names():
        assert f"EVENT_USER({name})" in emitted, name


def test_docs_list_the_events_of_the_table():
    """docs/terminal.md's event table is the workspace table, name for name."""
    with open(os.path.join(ROOT, "docs", "terminal.md")) as f:
        md = f.read()
    part = md[md.index("## Events"):md.index("## Bounds")]
    listed = set(re.findall(r"^\| `(\w+)` \|", part, re.M))
    ws, _ = server_sse_names()
    assert listed == ws


def test_the_page_s_codes_ts_is_generated_from_the_tables():
    """web/src/codes.ts (ErrorCode, WorkspaceEvent, RunEvent unions) is exactly what
    scripts/gen-codes.py writes from the C tables."""
    import subprocess
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-codes.py"),
                        "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def page_handlers(*paths):
    """The SSE names page modules listen to (es.addEventListener('name', ...), or the IDE's
    events.on('name', ...)); a path may be a directory of modules."""
    names = set()
    for path in paths:
        full = os.path.join(ROOT, path)
        files = [os.path.join(full, n) for n in sorted(os.listdir(full)) if n.endswith(".ts")] \
            if os.path.isdir(full) else [full]
        for name in files:
            with open(name) as f:
                names |= set(re.findall(r"(?:es\.addEventListener|events\.on)\('(\w+)'", f.read()))
    return names - {"open", "error", "message"}


def test_sse_event_names_match_the_server():
    d = openapi_check.doc()["x-sse-events"]
    ws, run = server_sse_names()
    assert ws == set(d["workspace"]["events"])
    assert run == set(d["run"]["events"])
    assert user_sse_names() == set(d["user"]["events"])


def test_the_page_listens_to_what_the_server_sends():
    """The IDE handles every workspace event the server sends (was: `conflict` ignored) and
    none it never sends (was: `file_moved`); the run view likewise (was: `status`)."""
    ws, run = server_sse_names()
    ide = page_handlers("web/src/ide")
    assert ide == ws, f"the IDE listens for {sorted(ide)}, the server sends {sorted(ws)}"
    view = page_handlers("web/src/runview.ts")
    assert view == run, f"the run view listens for {sorted(view)}, the server sends {sorted(run)}"
    bell = page_handlers("web/src/pages/review_notify.ts")
    assert bell == user_sse_names(), f"the bell listens for {sorted(bell)}"


def test_readme_settings_table_is_the_binary_s():
    """README's settings table is exactly `pyroom settings-markdown` (every flag, its
    environment variable, default and meaning), so a new setting cannot go undocumented."""
    import subprocess
    from conftest import BIN
    out = subprocess.run([BIN, "settings-markdown"], capture_output=True, text=True,
                         check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("| `--")]
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = [line for line in f.read().splitlines() if line.startswith("| `--")]
    assert len(rows) > 40 and readme == rows
