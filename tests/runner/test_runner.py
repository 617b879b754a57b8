"""The runner's self-test: scripts/run-tests.sh must fail loudly on a fake tree.

Each test copies the runner into a temporary tree with one fake suite (no test at all, a
hanging test, a hanging suite, a skipped suite, a missing suite, a stale or skipping
Criterion binary, a cancelled node test) and checks the verdict it prints and its exit
status. These are the ways a runner goes green on nothing; each must stay red.
"""
import os
import re
import shutil
import subprocess
import textwrap

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture
def tree(tmp_path):
    os.makedirs(tmp_path / "scripts")
    for f in ("run-tests.sh", "test-counts.py"):
        shutil.copy(os.path.join(ROOT, "scripts", f), tmp_path / "scripts" / f)
    return tmp_path


def put(tree, path, text):
    p = tree / path
    os.makedirs(p.parent, exist_ok=True)
    p.write_text(textwrap.dedent(text))
    return p


def run(tree, suites, **env):
    # The outer runner's own settings (BUILD=build/asan, SUITES, ...) must not leak in.
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("PYROOM_", "PYTEST_", "FUZZ_")) and k not in ("BUILD", "SUITES", "PG_SUITES")}
    e.update(SUITES=suites, PYROOM_TEST_TIMEOUT="3", PYROOM_SUITE_TIMEOUT="60")
    e.update(env)
    p = subprocess.run([str(tree / "scripts" / "run-tests.sh")], env=e, capture_output=True,
                       text=True, timeout=120)
    lines = p.stdout.strip().splitlines()
    return p.returncode, p.stdout, lines[-1] if lines else ""


def verdict(out, suite):
    m = re.findall(r"^== %s: (\d+) passed, (\d+) failed, (\d+) skipped$" % re.escape(suite), out, re.M)
    assert len(m) == 1, out
    return tuple(int(x) for x in m[0])


def test_a_suite_with_no_test_fails(tree):
    put(tree, "tests/api/test_empty.py", "# no test here\n")
    rc, out, last = run(tree, "api-sqlite")
    assert rc == 1, out
    assert "api-sqlite: no test ran" in out
    assert verdict(out, "api-sqlite") == (0, 1, 0)
    assert last == "0 passed, 1 failed, 0 skipped"


def test_a_hanging_test_times_out_and_the_rest_still_counts(tree):
    put(tree, "tests/sandbox/test_hang.py", """\
        import time
        def test_ok():
            pass
        def test_hangs():
            time.sleep(3600)
        def test_after():
            pass
        """)
    rc, out, last = run(tree, "sandbox")
    assert rc == 1, out
    assert verdict(out, "sandbox") == (2, 1, 0)
    assert last == "2 passed, 1 failed, 0 skipped"


def why(out):
    """The runner's failure digest: what follows '== why' up to the last line."""
    lines = out.strip().splitlines()
    start = [i for i, l in enumerate(lines) if l.startswith("== why")]
    assert len(start) == 1, out
    return "\n".join(lines[start[0] + 1:-1])


def test_the_end_of_the_output_says_which_test_failed_and_why(tree):
    # A CI log is often read from its tail: the failed tests and their messages are printed
    # again just above the last line, after every suite's own output.
    put(tree, "tests/sandbox/test_red.py", """\
        def test_green():
            pass
        def test_red():
            assert 1 + 1 == 3, "arithmetic broke"
        """)
    put(tree, "tests/api/test_fine.py", "def test_fine():\n    pass\n")
    rc, out, last = run(tree, "sandbox api-sqlite")
    assert rc == 1, out
    assert last == "2 passed, 1 failed, 0 skipped"
    digest = why(out)
    assert re.search(r"^FAILED \S*test_red::test_red\n    .*arithmetic broke", digest, re.M), out
    assert "test_green" not in digest and "test_fine" not in digest, out
    assert out.index("== why") > out.index("== api-sqlite:"), out


def test_a_green_run_prints_no_digest(tree):
    put(tree, "tests/sandbox/test_fine.py", "def test_fine():\n    pass\n")
    rc, out, last = run(tree, "sandbox")
    assert rc == 0, out
    assert "== why" not in out


def test_a_hanging_suite_is_killed_and_fails(tree):
    # A hang outside any test (here while collecting) is caught by the suite's timeout.
    put(tree, "tests/sandbox/conftest.py", "import time\ntime.sleep(3600)\n")
    put(tree, "tests/sandbox/test_x.py", "def test_x():\n    pass\n")
    rc, out, last = run(tree, "sandbox", PYROOM_SUITE_TIMEOUT="4")
    assert rc == 1, out
    assert "sandbox: suite timed out after 4s" in out
    assert verdict(out, "sandbox") == (0, 1, 0)


SKIPPED = """\
    import pytest
    def test_needs_root():
        pytest.skip("needs root")
    def test_needs_postgres():
        pytest.skip("PYROOM_TEST_PG not set")
    """


def test_a_skipped_suite_fails(tree):
    put(tree, "tests/sandbox/test_skip.py", SKIPPED)
    rc, out, last = run(tree, "sandbox")
    assert rc == 1, out
    assert "sandbox: 2 skipped test(s) count as failed" in out
    assert re.search(r"skipped: \S*test_skip::test_needs_root: needs root$", out, re.M), out
    assert verdict(out, "sandbox") == (0, 2, 0)


def test_skips_pass_only_when_allowed_by_name(tree):
    put(tree, "tests/sandbox/test_skip.py", SKIPPED)
    rc, out, last = run(tree, "sandbox", PYROOM_TEST_ALLOW_SKIP="unit api-postgres")
    assert rc == 1, out
    rc, out, last = run(tree, "sandbox", PYROOM_TEST_ALLOW_SKIP="unit sandbox")
    assert rc == 0, out
    assert verdict(out, "sandbox") == (0, 0, 2)
    assert last == "0 passed, 0 failed, 2 skipped"


def test_a_host_skip_is_printed_and_allowed(tree):
    put(tree, "tests/sandbox/test_host.py", """\
        import pytest
        def test_ok():
            pass
        def test_cgroup2():
            pytest.skip("host: cannot mount cgroup2 with controllers here")
        """)
    rc, out, last = run(tree, "sandbox")
    assert rc == 0, out
    assert "host: cannot mount cgroup2 with controllers here" in out
    assert verdict(out, "sandbox") == (1, 0, 1)


def test_a_missing_or_unknown_suite_fails(tree):
    rc, out, last = run(tree, "sandbox e2e fuzz unit nosuch")
    assert rc == 1, out
    for s in ("sandbox", "e2e", "fuzz", "unit", "nosuch"):
        assert verdict(out, s) == (0, 1, 0)
    assert last == "0 passed, 5 failed, 0 skipped"


CRITERION = """\
    #include <criterion/criterion.h>
    Test(fake, passes) { cr_assert_eq(1, 1); }
    Test(fake, needs_postgres) { cr_skip_test("PYROOM_TEST_PG not set"); }
    """


def build_unit(tree):
    src = put(tree, "tests/unit/test_fake.c", CRITERION)
    os.makedirs(tree / "build" / "tests")
    subprocess.run(["gcc", str(src), "-o", str(tree / "build/tests/test_fake"), "-lcriterion"],
                   check=True)
    return src


def test_a_skipped_criterion_test_fails_unless_allowed(tree):
    build_unit(tree)
    rc, out, last = run(tree, "unit")
    assert rc == 1, out
    assert "skipped: fake::needs_postgres: PYROOM_TEST_PG not set" in out
    assert verdict(out, "unit") == (1, 1, 0)
    rc, out, last = run(tree, "unit", PYROOM_TEST_ALLOW_SKIP="unit")
    assert rc == 0, out
    assert verdict(out, "unit") == (1, 0, 1)


def test_a_stale_test_binary_fails(tree):
    src = build_unit(tree)
    later = os.stat(tree / "build/tests/test_fake").st_mtime + 10
    os.utime(src, (later, later))
    rc, out, last = run(tree, "unit", PYROOM_TEST_ALLOW_SKIP="unit")
    assert rc == 1, out
    assert "older than its sources" in out
    assert verdict(out, "unit") == (0, 1, 0)


def test_a_cancelled_node_test_fails(tree):
    # The e2e suite reads node's own summary: a timed-out test is "cancelled", not passed.
    put(tree, "tests/e2e/hang.test.mjs", """\
        import test from 'node:test';
        test('passes', () => {});
        test('hangs', () => new Promise(() => {}));
        test('todo', { todo: 'not written yet' }, () => {});
        """)
    put(tree, "tests/e2e/run.mjs", """\
        import { spawnSync } from 'node:child_process';
        const ms = Number(process.env.PYROOM_TEST_TIMEOUT) * 1000;
        const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap',
            `--test-timeout=${ms}`, 'tests/e2e/hang.test.mjs'], { stdio: 'inherit' });
        process.exit(r.status ?? 1);
        """)
    rc, out, last = run(tree, "e2e")
    assert rc == 1, out
    assert verdict(out, "e2e") == (1, 2, 0)  # the cancelled test and the todo
    assert re.search(r"^FAILED hangs\n    .*(cancel|timed out)", why(out), re.M | re.I), out
    rc, out, last = run(tree, "e2e", PYROOM_TEST_ALLOW_SKIP="e2e")
    assert verdict(out, "e2e") == (1, 1, 1)
