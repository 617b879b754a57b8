#!/usr/bin/env python3
"""The include-layer rule (docs/architecture.md), checked: a lower layer never includes a
higher one, and a directory's private header (internal.h, *_internal.h) is included only
from its own directory. Exits 1 and names each offending line; run by `make check`.

    base  <-  store, sandbox, http  <-  auth, workspace, exec  <-  api  <-  main.c

Within a rank the allowed edges are listed explicitly (exec uses workspace and http; auth
uses store and http; workspace uses store)."""
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# What each directory of src/ may include besides itself.
ALLOWED = {
    "base": set(),
    "store": {"base"},
    "sandbox": {"base"},
    "http": {"base"},
    "auth": {"base", "store", "http"},
    "workspace": {"base", "store"},
    "exec": {"base", "store", "sandbox", "http", "workspace"},
    "api": {"base", "store", "sandbox", "http", "auth", "workspace", "exec"},
    "main": {"base", "store", "sandbox", "http", "auth", "workspace", "exec", "api"},
}

# Known exceptions, each with the issue that removes it. An exception whose file no longer
# exists (or no longer includes that header) is simply unused.
EXCEPTIONS = {
    # issue 18 item 6: the `pyroom sandbox` command moves next to main.c's commands.
    ("src/sandbox/cli.c", "exec/supervisor.h"),
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(rel):
    parts = rel.split("/")
    if len(parts) == 2:  # src/main.c and any other top-level file
        return "main"
    return parts[1]


def main():
    bad = []
    for dirpath, _, files in os.walk(os.path.join(ROOT, "src")):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, ROOT)
            me = layer_of(rel)
            if me not in ALLOWED:
                bad.append(f"{rel}: directory src/{me}/ has no layer (add it to {__file__})")
                continue
            with open(path, encoding="utf-8", errors="replace") as fh:
                for n, line in enumerate(fh, 1):
                    m = INCLUDE.match(line)
                    if not m or "/" not in m.group(1):
                        continue
                    inc = m.group(1)
                    target = inc.split("/")[0]
                    if (rel, inc) in EXCEPTIONS:
                        continue
                    name = inc.rsplit("/", 1)[1]
                    if (name == "internal.h" or name.endswith("_internal.h")) and target != me:
                        bad.append(f"{rel}:{n}: includes {inc}, private to src/{target}/")
                    elif target != me and target not in ALLOWED[me]:
                        bad.append(f"{rel}:{n}: src/{me}/ may not include {inc} "
                                   f"(src/{target}/ is not below it)")
    for b in bad:
        print(b)
    if bad:
        print(f"check-layers: {len(bad)} include(s) break the layer rule "
              "(docs/architecture.md, 'Layers')")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
