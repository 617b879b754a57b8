#!/bin/bash
# Runs every test suite that `make check` promises and ends with one line
# "N passed, N failed". SUITES selects a subset (unit fuzz sandbox api-sqlite api-postgres e2e).
# Each suite reports its own counts; a suite that cannot run at all counts as one failure.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SUITES=${SUITES:-"unit fuzz web sandbox api-sqlite api-postgres cluster deploy e2e"}
export PYROOM_BIN=${PYROOM_BIN:-$PWD/$BUILD/pyroom}
PY=/usr/bin/python3
passed=0
failed=0
mkdir -p "$BUILD/logs"

add() { passed=$((passed + $1)); failed=$((failed + $2)); echo "== $3: $1 passed, $2 failed"; }

# pytest: "N passed", "N failed", "N error(s)" in the last line.
run_pytest() { # name, args...
    local name=$1 log="$BUILD/logs/$1.log"
    shift
    $PY -m pytest -q -rfE -p no:cacheprovider "$@" 2>&1 | tee "$log" | tail -n 40
    local last p f e
    last=$(grep -E '(passed|failed|error|no tests ran)' "$log" | tail -n 1)
    p=$(echo "$last" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
    f=$(echo "$last" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || true)
    e=$(echo "$last" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+' || true)
    p=${p:-0}; f=$(( ${f:-0} + ${e:-0} ))
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    add "$p" "$f" "$name"
}

suite_unit() {
    local p=0 f=0 t out
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        out=$("$t" --jobs 1 2>&1)
        local rc=$?
        echo "$out" | grep -E 'FAIL|Synthesis|CRASH|fail' | head -n 40
        local syn tp tf tc
        syn=$(echo "$out" | grep 'Synthesis' | tail -n 1)
        tp=$(echo "$syn" | sed -E 's/.*Passing: ([0-9]+).*/\1/')
        tf=$(echo "$syn" | sed -E 's/.*Failing: ([0-9]+).*/\1/')
        tc=$(echo "$syn" | sed -E 's/.*Crashing: ([0-9]+).*/\1/')
        if [ -z "$syn" ]; then tp=0; tf=1; tc=0; fi
        if [ "$rc" -ne 0 ] && [ "$tf" -eq 0 ] && [ "$tc" -eq 0 ]; then tf=1; fi
        p=$((p + tp)); f=$((f + tf + tc))
    done
    add $p $f unit
}

suite_fuzz() {
    local p=0 f=0
    if ! ./scripts/build-fuzz.sh >"$BUILD/logs/fuzz-build.log" 2>&1; then
        tail -n 20 "$BUILD/logs/fuzz-build.log"; add 0 1 fuzz; return
    fi
    for t in build/fuzz/fuzz_*; do
        [ -x "$t" ] || continue
        local name corpus
        name=$(basename "$t")
        corpus=tests/fuzz/corpus/${name#fuzz_}
        # Replay the committed corpus (regressions), then a short bounded exploration.
        # New inputs go to a scratch directory (libFuzzer writes to the first one), so a
        # test run never adds files to the committed corpus.
        mkdir -p "$BUILD/fuzz-corpus/$name"
        if "$t" -runs=0 "$corpus" >"$BUILD/logs/$name.log" 2>&1 &&
           "$t" -max_total_time=${FUZZ_SECONDS:-5} -max_len=4096 "$BUILD/fuzz-corpus/$name" "$corpus" \
               >>"$BUILD/logs/$name.log" 2>&1 -artifact_prefix="$BUILD/logs/$name-" ; then
            p=$((p + 1))
        else
            echo "fuzz: $name failed"; tail -n 30 "$BUILD/logs/$name.log"; f=$((f + 1))
        fi
    done
    add $p $f fuzz
}

suite_sandbox() { run_pytest sandbox tests/sandbox; }
suite_api-sqlite() { PYROOM_TEST_DB=sqlite run_pytest api-sqlite tests/api; }
suite_api-postgres() {
    if [ -z "${PYROOM_TEST_PG:-}" ]; then add 0 1 api-postgres; return; fi
    PYROOM_TEST_DB=postgres run_pytest api-postgres tests/api
}
# Several nodes on one PostgreSQL behind Debian's nginx (tests/cluster).
suite_cluster() {
    if [ -z "${PYROOM_TEST_PG:-}" ]; then add 0 1 cluster; return; fi
    run_pytest cluster tests/cluster
}
# The Kubernetes manifests against the Kubernetes schemas, offline (deploy/validate.mjs).
suite_deploy() {
    if [ ! -f deploy/package.json ]; then return; fi
    if (cd deploy && node validate.mjs) >"$BUILD/logs/deploy.log" 2>&1; then
        cat "$BUILD/logs/deploy.log" | tail -n 3; add 1 0 deploy
    else
        tail -n 30 "$BUILD/logs/deploy.log"; add 0 1 deploy
    fi
}
# The page's TypeScript must type-check (tsc --noEmit); one test.
suite_web() {
    if [ ! -f web/package.json ]; then return; fi
    if (cd web && npm run --silent typecheck) >"$BUILD/logs/web.log" 2>&1; then
        add 1 0 web
    else
        tail -n 30 "$BUILD/logs/web.log"; add 0 1 web
    fi
}

suite_e2e() {
    local log="$BUILD/logs/e2e.log"
    if [ ! -f tests/e2e/run.mjs ]; then add 0 0 e2e; return; fi
    node tests/e2e/run.mjs 2>&1 | tee "$log" | tail -n 40
    local p f
    p=$(grep -oE '^# pass [0-9]+' "$log" | grep -oE '[0-9]+' | tail -n 1)
    f=$(grep -oE '^# fail [0-9]+' "$log" | grep -oE '[0-9]+' | tail -n 1)
    if [ -z "$p" ]; then p=0; f=1; fi
    add "$p" "${f:-0}" e2e
}

# One throw-away PostgreSQL cluster for every suite that wants it (unit tests of the
# PostgreSQL driver and the API tests), stopped on exit.
if [ -x scripts/pg.sh ] && [ -z "${PYROOM_TEST_PG:-}" ]; then
    if PYROOM_TEST_PG=$(./scripts/pg.sh start 2>"$BUILD/logs/pg.log"); then
        export PYROOM_TEST_PG
        trap './scripts/pg.sh stop >/dev/null 2>&1 || true' EXIT
    else
        echo "postgres: could not start"; cat "$BUILD/logs/pg.log"
    fi
fi

for s in $SUITES; do
    if [ "$s" = unit ] || [ "$s" = web ] || [ "$s" = deploy ] || ls tests/"${s%%-*}"/ 2>/dev/null | grep -qE '\.(py|c|mjs)$'; then
        "suite_$s"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
