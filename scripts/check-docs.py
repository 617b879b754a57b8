#!/usr/bin/env python3
"""The tables the docs copy from the code, checked (run by `make lint`, so drift fails in
seconds instead of at the end of the API suite; tests/api/test_openapi.py checks the
served document and the page as well):

  - docs/api.md's error list (Conventions, `- **Errors**`): every code of src/api/errors.h
    with its status, and no other;
  - README.md's settings table: exactly `build/pyroom settings-markdown` (needs the
    binary: `make` first; `make check` builds before it lints);
  - the SSE tables: scripts/openapi.py's SSE_DATA and docs/terminal.md's event table name
    exactly the events of src/base/events.h;
  - web/src/codes.ts is what scripts/gen-codes.py writes from those tables.

Exits 1 and names each difference."""
import importlib.util
import os
import re
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import codes  # noqa: E402  (the C tables)


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def diff(what, have, want):
    """Lines naming what `have` (the docs) lacks and has too many, against `want` (the code)."""
    out = []
    for k in sorted(set(want) - set(have)):
        out.append(f"{what}: missing {k}" + (f" ({want[k]})" if isinstance(want, dict) else ""))
    for k in sorted(set(have) - set(want)):
        out.append(f"{what}: {k} is not in the code")
    if isinstance(want, dict):
        for k in sorted(set(have) & set(want)):
            if have[k] != want[k]:
                out.append(f"{what}: {k} is {have[k]} in the docs, {want[k]} in the code")
    return out


def check_errors():
    want = {c: s for c, s, _ in codes.error_table()}
    md = read("docs", "api.md")
    try:
        conv = md[md.index("- **Errors**"):md.index("- **Ids**")]
    except ValueError:
        return ["docs/api.md: no '- **Errors**' ... '- **Ids**' section"]
    have = {}
    for status, group in re.findall(r"(\d{3}) ((?:`\w+`/?)+)", conv):
        for code in re.findall(r"`(\w+)`", group):
            have[code] = int(status)
    out = diff("docs/api.md error list vs src/api/errors.h", have, want)
    # any other `snake_code` the page names next to an error status is a real code
    for status, code in re.findall(r"\b(4\d\d|5\d\d) `([a-z_]+)`", md):
        if want.get(code) != int(status):
            out.append(f"docs/api.md: '{status} `{code}`' is not a code of src/api/errors.h "
                       "with that status")
    return out


def check_settings():
    binary = os.path.join(ROOT, os.environ.get("BUILD", "build"), "pyroom")
    if not os.access(binary, os.X_OK):
        return [f"README settings: {os.path.relpath(binary, ROOT)} is not built (run make)"]
    r = subprocess.run([binary, "settings-markdown"], capture_output=True, text=True)
    if r.returncode != 0:
        return [f"README settings: pyroom settings-markdown failed: {r.stderr.strip()}"]
    want = [line for line in r.stdout.splitlines() if line.startswith("| `--")]
    have = [line for line in read("README.md").splitlines() if line.startswith("| `--")]
    if have == want:
        return []
    out = [f"README.md settings table: missing or different: {line}"
           for line in want if line not in have]
    out += [f"README.md settings table: not the binary's: {line}"
            for line in have if line not in want]
    if not out:
        out = ["README.md settings table: the rows are the binary's but in another order"]
    return out + ["(paste `build/pyroom settings-markdown` into README.md)"]


def check_events():
    spec = importlib.util.spec_from_file_location("openapi", os.path.join(ROOT, "scripts",
                                                                          "openapi.py"))
    openapi = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(openapi)  # its sse() refuses a table that differs
    except SystemExit as e:
        return [f"scripts/openapi.py: {e}"]
    out = []
    for which in ("workspace", "run"):
        want = [n for n, _ in codes.event_table(which)]
        out += diff(f"scripts/openapi.py SSE_DATA[{which!r}] vs src/base/events.h",
                    list(openapi.SSE_DATA[which]), want)
    md = read("docs", "terminal.md")
    try:
        part = md[md.index("## Events"):md.index("## Bounds")]
    except ValueError:
        return out + ["docs/terminal.md: no '## Events' ... '## Bounds' section"]
    have = re.findall(r"^\| `(\w+)` \|", part, re.M)
    out += diff("docs/terminal.md events vs src/base/events.h (workspace)", have,
                [n for n, _ in codes.event_table("workspace")])
    return out


def check_codes_ts():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-codes.py"),
                        "--check"], capture_output=True, text=True)
    return [] if r.returncode == 0 else [(r.stdout + r.stderr).strip()]


def main():
    bad = check_errors() + check_settings() + check_events() + check_codes_ts()
    for b in bad:
        print(b)
    if bad:
        print(f"check-docs: {len(bad)} difference(s) between the docs and the code")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
