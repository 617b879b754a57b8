#!/usr/bin/env python3
"""The shape rule (docs/architecture.md, 'Rules a change must keep'), checked: no C file of
src/ over MAX_FILE lines and no function over MAX_FUNCTION lines without a reason.

A function's length counts the lines from its opening brace (a '{' alone at column 0, as
clang-format's Linux braces put it) to its closing brace (the next '}' at column 0), both
included. A reason is a comment right above the function (or its signature) holding
`long-function: <why>`; a file's reason is `long-file: <why>` in its opening comment.

Files and functions that are too long and belong to someone who will split them are listed
in scripts/size-allowlist.txt, one a line:

    src/exec/runs.c                      owner: warm, to split
    src/exec/runs.c:run_main             owner: warm, to split

An allowlisted item that is no longer too long is reported (remove its line) but does not
fail. Exits 1 and names each offender; run by `make lint`.

    scripts/check-size.py [FILE...]   (default: every .c and .h under src/)"""
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
ALLOWLIST = os.path.join(ROOT, "scripts", "size-allowlist.txt")
MAX_FILE = 800
MAX_FUNCTION = 100

ATTRIBUTE = re.compile(r"__attribute__\s*\(\(.*?\)\)")
NAME = re.compile(r"([A-Za-z_]\w*)\s*\(")
COMMENT_LINE = re.compile(r"^\s*(/\*|\*|//)|\*/\s*$")


def read_allowlist(path):
    allowed = {}
    if not os.path.exists(path):
        return allowed
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            key, _, why = line.partition(" ")
            if "owner:" not in why:
                raise SystemExit(f"{path}:{n}: an entry says whose it is ('owner: <who>, ...')")
            allowed[key] = n
    return allowed


def signature_start(lines, brace):
    """Index of the first line of the signature that ends at lines[brace - 1]."""
    i = brace - 1
    while i > 0:
        prev = lines[i - 1].rstrip()
        if (not prev or prev.endswith((";", "}", "*/")) or prev.startswith("#")
                or COMMENT_LINE.match(prev)):
            break
        i -= 1
    return i


def comment_above(lines, start):
    """The comment block that ends right above lines[start]."""
    i = start
    while i > 0 and lines[i - 1].strip() and COMMENT_LINE.match(lines[i - 1]):
        i -= 1
    return "".join(lines[i:start])


def functions(lines):
    """(name, first line number of the signature, length, reason given) per function."""
    i = 0
    while i < len(lines):
        if lines[i].rstrip("\n") != "{":
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not lines[end].startswith("}"):
            end += 1
        start = signature_start(lines, i)
        sig = ATTRIBUTE.sub("", " ".join(l.strip() for l in lines[start:i]))
        m = NAME.search(sig)
        name = m.group(1) if m else "?"
        reason = "long-function:" in comment_above(lines, start)
        yield name, start + 1, end - i + 1, reason
        i = end + 1


def check(paths, allowed):
    bad, used = [], set()
    for path in paths:
        rel = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
        head = "".join(lines[:40])
        if len(lines) > MAX_FILE and "long-file:" not in head:
            if rel in allowed:
                used.add(rel)
            else:
                bad.append(f"{rel}: {len(lines)} lines (over {MAX_FILE}): split it by "
                           "mechanism, or say why in its opening comment ('long-file: ...')")
        if not rel.endswith(".c"):
            continue
        for name, line, length, reason in functions(lines):
            if length <= MAX_FUNCTION or reason:
                continue
            key = f"{rel}:{name}"
            if key in allowed:
                used.add(key)
            else:
                bad.append(f"{rel}:{line}: {name}() is {length} lines (over {MAX_FUNCTION}): "
                           "split it, or say why in its comment ('long-function: ...')")
    return bad, used


def main(argv):
    allowed = read_allowlist(ALLOWLIST)
    if argv:
        paths = [os.path.abspath(p) for p in argv]
    else:
        paths = []
        for dirpath, _, files in os.walk(os.path.join(ROOT, "src")):
            paths += [os.path.join(dirpath, f) for f in sorted(files) if f.endswith((".c", ".h"))]
        paths.sort()
    bad, used = check(paths, allowed)
    if not argv:
        for key in sorted(set(allowed) - used):
            print(f"check-size: {key} is within the limits now: remove its line from "
                  f"{os.path.relpath(ALLOWLIST, ROOT)}")
    for b in bad:
        print(b)
    if bad:
        print(f"check-size: {len(bad)} file(s) or function(s) too long "
              "(docs/architecture.md, 'Rules a change must keep')")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
