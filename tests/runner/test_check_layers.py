"""scripts/check-layers.py (run by `make lint`, part of `make check`) on fake trees: it
passes the real tree and fails, naming the line, on each way a layer can be broken."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run(root):
    return subprocess.run([sys.executable, os.path.join(root, "scripts", "check-layers.py")],
                          capture_output=True, text=True)


@pytest.fixture
def tree(tmp_path):
    os.makedirs(tmp_path / "scripts")
    shutil.copy(os.path.join(ROOT, "scripts", "check-layers.py"), tmp_path / "scripts")
    for d, f, text in [("base", "buf.c", '#include "base/buf.h"\n'),
                       ("store", "db.c", '#include "base/buf.h"\n#include "store/db.h"\n'),
                       ("sandbox", "internal.h", "\n"),
                       ("exec", "runs.c", '#include "workspace/fsdir.h"\n#include "sandbox/sandbox.h"\n'),
                       ("api", "api.c", '#include "exec/runs.h"\n')]:
        os.makedirs(tmp_path / "src" / d, exist_ok=True)
        (tmp_path / "src" / d / f).write_text(text)
    (tmp_path / "src" / "main.c").write_text('#include "api/api.h"\n')
    return tmp_path


def test_the_real_tree_keeps_the_layers():
    r = run(ROOT)
    assert r.returncode == 0, r.stdout


def test_a_fake_tree_that_keeps_them_passes(tree):
    r = run(str(tree))
    assert r.returncode == 0, r.stdout


@pytest.mark.parametrize("path,line,why", [
    ("src/base/log.c", '#include "store/store.h"', "may not include store/store.h"),
    ("src/sandbox/spawn.c", '#include "exec/supervisor.h"', "may not include exec/"),
    ("src/workspace/sync.c", '#include "exec/terminals.h"', "may not include exec/"),
    ("src/exec/x.c", '#include "api/internal.h"', "private to src/api/"),
    ("src/api/x.c", '#include "sandbox/internal.h"', "private to src/sandbox/"),
    ("src/newdir/x.c", '#include "base/buf.h"', "has no layer"),
])
def test_each_broken_rule_fails_and_names_the_line(tree, path, line, why):
    p = tree / path
    os.makedirs(p.parent, exist_ok=True)
    p.write_text("/* x */\n" + line + "\n")
    r = run(str(tree))
    assert r.returncode == 1
    assert why in r.stdout and path in r.stdout, r.stdout
