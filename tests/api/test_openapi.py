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
        # the HTTP core's own refusals, and answers written out as JSON text
        for status, code in re.findall(r'refuse\(st, (\d{3}), "(\w+)"', flat):
            sent.append((path, int(status), code))
        for code in re.findall(r'\\"code\\":\\"(\w+)\\"', flat):
            sent.append((path, None, code))
        # api_fail: "case -EXXX: http_reply_error(...)" is covered above
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
    """Workspace events: the names events.c, terminals.c, drain.c and collab.c publish; run
    events: what exec/runs.c adds and the stored tail api/runs.c sends."""
    files = src("src/api/events.c", "src/api/terminals.c", "src/api/drain.c", "src/exec/runs.c",
                "src/api/runs.c", "src/api/collab.c")
    ws = set(re.findall(r'\[WSYNC_\w+\] = "(\w+)"', files["src/api/terminals.c"]))
    ws |= set(re.findall(r'"(file_\w+|folder_\w+)"', files["src/api/events.c"]))
    ws |= set(re.findall(r'api_events_publish\((?:[^,"]+, )+"(\w+)"', files["src/api/drain.c"]))
    # presence and co-editing (collab.c): publish(api, ws, "name", data)
    ws |= set(re.findall(r'publish\(api, [\w>.-]+, "(\w+)"', files["src/api/collab.c"]))
    run = set()
    for args in re.findall(r"add_event\(r, l, ([^,]+),", files["src/exec/runs.c"]):
        run |= set(re.findall(r'"(\w+)"', args))
    tail = re.search(r"names\[3\] = \{([^}]*)\}", files["src/api/runs.c"])
    run |= set(re.findall(r'"(\w+)"', tail.group(1)))
    return ws, run


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


def test_the_page_listens_to_what_the_server_sends():
    """The IDE handles every workspace event the server sends (was: `conflict` ignored) and
    none it never sends (was: `file_moved`); the run view likewise (was: `status`)."""
    ws, run = server_sse_names()
    ide = page_handlers("web/src/ide")
    assert ide == ws, f"the IDE listens for {sorted(ide)}, the server sends {sorted(ws)}"
    view = page_handlers("web/src/runview.ts")
    assert view == run, f"the run view listens for {sorted(view)}, the server sends {sorted(run)}"


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
