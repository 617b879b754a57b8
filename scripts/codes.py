"""The C tables that other languages follow, read once: the error codes of
src/api/errors.h and the event names of src/base/events.h. Used by scripts/openapi.py,
scripts/gen-codes.py and the drift tests (tests/api/test_openapi.py)."""
import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def _block(text, macro):
    """The body of `#define MACRO(X) ...` with line continuations joined."""
    m = re.search(r"#define " + macro + r"\(X\)((?:[^\n]*\\\n)*[^\n]*)", text)
    if not m:
        raise SystemExit(f"codes.py: no {macro} table")
    return m.group(1).replace("\\\n", " ")


def _strings(s):
    """Concatenates adjacent C string literals: '"a " "b"' -> 'a b'."""
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', s))


def error_table():
    """[(code, status, meaning)] from src/api/errors.h."""
    with open(os.path.join(ROOT, "src", "api", "errors.h")) as f:
        body = _block(f.read(), "API_ERRORS")
    rows = re.findall(r'X\((\w+), (\d{3}), ((?:"(?:[^"\\]|\\.)*"\s*)+)\)', body)
    if not rows:
        raise SystemExit("codes.py: no error table in src/api/errors.h")
    return [(c, int(s), _strings(m)) for c, s, m in rows]


def event_table(which):
    """[(name, meaning)] of EVENTS_WORKSPACE ('workspace'), EVENTS_USER ('user') or
    EVENTS_RUN ('run')."""
    with open(os.path.join(ROOT, "src", "base", "events.h")) as f:
        body = _block(f.read(), "EVENTS_" + which.upper())
    rows = re.findall(r'X\((\w+), ((?:"(?:[^"\\]|\\.)*"\s*)+)\)', body)
    if not rows:
        raise SystemExit(f"codes.py: no {which} events in src/base/events.h")
    return [(n, _strings(m)) for n, m in rows]
