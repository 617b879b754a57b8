"""The tree's Python sources that the binary embeds (src/base/embed.h) are checked as Python:
each compiles and is pyflakes-clean, and the pure parts of the warm pool's half behave as
python3 does (the exit status a program's end gives)."""
import glob
import os
import py_compile
import re
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EMBEDDED = sorted(glob.glob(os.path.join(ROOT, "src", "**", "*.py"), recursive=True))


def test_every_embedded_file_is_embedded_and_named_in_the_makefile():
    names = {os.path.relpath(p, ROOT) for p in EMBEDDED}
    assert {"src/exec/warm_python.py", "src/exec/run_sitecustomize.py",
            "src/exec/run_backend.py", "src/exec/lang_worker.py"} <= names
    c_text = "".join(open(p).read() for p in glob.glob(os.path.join(ROOT, "src", "*", "*.c")))
    makefile = open(os.path.join(ROOT, "Makefile")).read()
    for name in names:
        assert re.search(r'EMBED_TEXT\(\w+, "' + re.escape(name) + r'"\);', c_text), name
        assert name in makefile, f"{name}: not a prerequisite of its object in the Makefile"


@pytest.mark.parametrize("path", EMBEDDED, ids=lambda p: os.path.relpath(p, ROOT))
def test_compiles(path, tmp_path):
    py_compile.compile(path, cfile=str(tmp_path / "x.pyc"), doraise=True)


@pytest.mark.parametrize("path", EMBEDDED, ids=lambda p: os.path.relpath(p, ROOT))
def test_pyflakes_clean(path):
    r = subprocess.run(["/usr/bin/python3", "-m", "pyflakes", path], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def warm_module():
    ns = {"__name__": "_pyroom_warm"}
    exec(compile(open(os.path.join(ROOT, "src/exec/warm_python.py")).read(),
                 "warm_python.py", "exec"), ns)
    return ns


@pytest.mark.parametrize("code,status", [
    ("pass", 0), ("raise SystemExit", 0), ("raise SystemExit(3)", 3),
    ("raise SystemExit(256 + 7)", 263), ("raise SystemExit('no')", 1), ("1 / 0", 1),
    ("raise SystemExit(2 ** 70)", -1),
])
def test_finish_gives_python3s_exit_status(code, status):
    """finish() against a real python3 running the same program (statuses before & 0xff)."""
    finish = warm_module()["finish"]
    try:
        exec(code, {})
        t = v = tb = None
    except BaseException as e:  # the program's end, whatever it is
        t, v, tb = type(e), e, e.__traceback__
    saved = sys.stderr, sys.excepthook
    sys.stderr = open(os.devnull, "w")
    sys.excepthook = lambda *a: None
    try:
        assert finish(t, v, tb) == status
    finally:
        sys.stderr.close()
        sys.stderr, sys.excepthook = saved
    real = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True)
    assert real.returncode == status & 0xff
