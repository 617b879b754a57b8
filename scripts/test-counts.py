#!/usr/bin/python3
"""Reads one test report and prints its counts for scripts/run-tests.sh.

    test-counts.py junit FILE      pytest --junitxml
    test-counts.py criterion FILE  a Criterion binary's --json report
    test-counts.py tap FILE        node:test's TAP output (its own "# pass ..." summary)
    test-counts.py why KIND FILE   the failed tests of a report and the first lines of why


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


def first_lines(text, n=6):
    lines = [l.rstrip() for l in (text or "").strip().splitlines() if l.strip()]
    return lines[:n] + (["..."] if len(lines) > n else [])


def why_junit(path):
    for case in ET.parse(path).getroot().iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            yield "%s::%s" % (case.get("classname", ""), case.get("name", "")), \
                first_lines(bad.get("message", "") + "\n" + (bad.text or ""))


def why_criterion(path):
    with open(path) as fh:
        rep = json.load(fh)
    for suite in rep["test_suites"]:
        for t in suite["tests"]:
            if t["status"] not in ("PASSED", "SKIPPED"):
                yield "%s::%s" % (suite["name"], t["name"]), first_lines("\n".join(t.get("messages") or [t["status"]]))


def why_tap(path):
    """Each 'not ok' test's YAML block: its error, and the first lines of its stack."""
    with open(path, errors="replace") as fh:
        lines = fh.read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)not ok \d+ - (.*?)(?:\s+# (SKIP|TODO)\b.*)?$", line)
        if not m or m.group(3):
            continue
        indent, detail, field = m.group(1), [], ""
        for l in lines[i + 1:]:
            if l == indent + "  ...":
                break
            f = re.match(r"^%s  (\w+):\s*(.*)$" % re.escape(indent), l)
            if f:
                field = f.group(1)
                if field in ("error", "code", "failureType") and f.group(2) not in ("|-", ">-", "|"):
                    detail.append("%s: %s" % (field, f.group(2)))
            elif field in ("error", "stack"):
                detail.append(l.strip())
        # A parent test fails with "N subtests failed": its children say why.
        if not any("subtest" in d for d in detail[:2]):
            yield m.group(2), first_lines("\n".join(detail), 10)


def why(kind, path):
    for name, lines in {"junit": why_junit, "criterion": why_criterion, "tap": why_tap}[kind](path):
        print("FAILED %s" % name)
        for l in lines:
            print("    %s" % l)


def main():
    if sys.argv[1] == "why":
        try:
            why(sys.argv[2], sys.argv[3])
        except (OSError, ValueError, KeyError, ET.ParseError) as e:
            print("test-counts: cannot read %s report %s: %s" % (sys.argv[2], sys.argv[3], e))
        return 0
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
