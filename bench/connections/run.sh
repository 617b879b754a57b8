#!/bin/bash
# bench/connections: 10,000 open event streams on one node, this build against main's
# (built from git into a temp directory, thread per connection), in the same run; then
# bench/api's health and authenticated file GET on both binaries (wrk, same run).
# BENCH_STREAMS (default 10000), BENCH_BASE (a commit, default main).
set -eu
cd "$(dirname "$0")/../.."
BIN=${PYROOM_BIN:-$PWD/build/pyroom}
BASE=${BENCH_BASE:-main}
TMP=$(mktemp -d)
trap 'git worktree remove --force $TMP/base >/dev/null 2>&1 || true; rm -rf $TMP' EXIT
OLD=${BENCH_OLD_BIN:-}
if [ -z "$OLD" ]; then
    git worktree add --detach "$TMP/base" "$BASE" >/dev/null 2>&1
    (cd "$TMP/base" && make -j2 build/pyroom >/dev/null)
    OLD=$TMP/base/build/pyroom
fi
/usr/bin/python3 bench/connections/bench.py --new "$BIN" --old "$OLD" --streams "${BENCH_STREAMS:-10000}"
echo "---- bench/api, same run: main's binary, then this one (SQLite)"
for b in "$OLD" "$BIN"; do
    echo "== $b"
    PYROOM_BIN=$b BENCH_SECONDS=${BENCH_SECONDS:-5} BENCH_NO_PG=1 bench/api/run.sh | grep -E "sqlite|bench/api"
done
