#!/usr/bin/python3
"""Reads one test report and prints its counts for scripts/run-tests.sh.

    test-counts.py junit FILE      pytest --junitxml
    test-counts.py criterion FILE  a Criterion binary's --json report
    test-counts.py tap FILE        node:test's TAP output (its own "# pass ..." summary)

stdout, one line: "PASSED FAILED SKIPPED HOST_SKIPPED". HOST_SKIPPED is the part of SKIPPED
whose reason starts with "host:" (a documented capability this machine lacks, see
tests/README.md); the runner fails every other skip unless PYROOM_TEST_ALLOW_SKIP allows
it. stderr: one line per skip ("skipped: TEST: REASON") so that every skip is visible.
A report that cannot be read exits 1: the runner counts that as a failure.
"""
import json
import re
import sys
import xml.etree.ElementTree as ET


def is_host(reason):
    return reason.strip().startswith("host:")


def junit(path):
    root = ET.parse(path).getroot()
    p = f = s = h = 0
    for case in root.iter("testcase"):
        name = "%s::%s" % (case.get("classname", ""), case.get("name", ""))
        if case.find("failure") is not None or case.find("error") is not None:
            f += 1
            continue
        sk = case.find("skipped")
        if sk is None:
            p += 1
            continue
        reason = sk.get("message", "")
        # pytest writes "file:line: reason" for skips raised in fixtures; keep the reason.
        reason = re.sub(r"^\S+:\d+: ", "", reason)
        s += 1
        h += is_host(reason)
        print("skipped: %s: %s" % (name, reason), file=sys.stderr)
    return p, f, s, h


def criterion(path):
    with open(path) as fh:
        rep = json.load(fh)
    p = f = s = h = 0
    for suite in rep["test_suites"]:
        for t in suite["tests"]:
            st = t["status"]
            name = "%s::%s" % (suite["name"], t["name"])
            if st == "PASSED":
                p += 1
            elif st == "SKIPPED":
                reason = " ".join(t.get("messages") or [])
                s += 1
                h += is_host(reason)
                print("skipped: %s: %s" % (name, reason), file=sys.stderr)
            else:  # FAILED, ERRORED (a crash or a timeout)
                f += 1
    return p, f, s, h


def tap(path):
    with open(path, errors="replace") as fh:
        text = fh.read()
    summary = {}
    for m in re.finditer(r"^# (tests|pass|fail|cancelled|skipped|todo) (\d+)\s*$", text, re.M):
        summary[m.group(1)] = int(m.group(2))  # the last summary wins (node prints one)
    if "tests" not in summary or "pass" not in summary:
        raise ValueError("no node:test summary in %s" % path)
    h = 0
    for m in re.finditer(r"^\s*(?:not )?ok \d+ - (.*?)[ \t]+# (SKIP|TODO)\b[ \t]*(.*)$", text, re.M):
        h += m.group(2) == "SKIP" and is_host(m.group(3))
        print("skipped: %s: %s %s" % (m.group(1), m.group(2), m.group(3)), file=sys.stderr)
    # A cancelled test (a timeout, an unfinished promise) is a failure; a todo is not done.
    failed = summary.get("fail", 0) + summary.get("cancelled", 0)
    skipped = summary.get("skipped", 0) + summary.get("todo", 0)
    return summary["pass"], failed, skipped, h


def main():
    kind, path = sys.argv[1], sys.argv[2]
    try:
        counts = {"junit": junit, "criterion": criterion, "tap": tap}[kind](path)
    except (OSError, ValueError, KeyError, ET.ParseError) as e:
        print("test-counts: cannot read %s report %s: %s" % (kind, path, e), file=sys.stderr)
        return 1
    print("%d %d %d %d" % counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
