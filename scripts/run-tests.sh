#!/bin/bash
# Runs every test suite that `make check` promises. Each suite prints
#   == SUITE: N passed, N failed, N skipped
# and the run ends with one line "N passed, N failed, N skipped"; the exit status is 0 only
# when nothing failed. The runner fails loudly (tests/README.md has the rules):
#   - a suite that runs no test, is missing, or gives no readable report fails;
#   - every skip is printed with its reason; a skip fails the suite unless its reason starts
#     with "host:" (a documented capability this machine lacks) or the suite is named in
#     PYROOM_TEST_ALLOW_SKIP (e.g. "unit sandbox", or "all": skip what this machine cannot run,
#     such as the root-only or PostgreSQL tests);
#   - every test has a timeout (PYROOM_TEST_TIMEOUT seconds, default 300) and every suite one
#     too (PYROOM_SUITE_TIMEOUT, default 2400): a hang fails instead of hanging `make check`;
#   - a unit test binary older than its source or the library fails as stale (`make unit`);
#   - the fuzz exploration uses a fixed seed (FUZZ_SEED, default 1; "random" for a new one).
# SUITES selects a subset, in order. A suite is one function `suite_NAME` below that ends by
# calling `report NAME PASSED FAILED SKIPPED [HOST_SKIPPED]`; add a new one the same way.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SUITES=${SUITES:-"runner unit fuzz web sandbox api-sqlite api-postgres cluster deploy e2e"}
# Suites that need the throw-away PostgreSQL cluster (started once, below).
PG_SUITES=${PG_SUITES:-"unit api-postgres cluster"}
export PYROOM_BIN=${PYROOM_BIN:-$PWD/$BUILD/pyroom}
export PYROOM_TEST_TIMEOUT=${PYROOM_TEST_TIMEOUT:-300}
PYROOM_SUITE_TIMEOUT=${PYROOM_SUITE_TIMEOUT:-2400}
PYROOM_TEST_ALLOW_SKIP=${PYROOM_TEST_ALLOW_SKIP:-}
PY=/usr/bin/python3
COUNTS="$PY scripts/test-counts.py"
passed=0
failed=0
skipped=0
LOGS="$BUILD/logs"
mkdir -p "$LOGS"
WHY="$LOGS/failures.txt"
: >"$WHY"

allowed_skip() { # suite
    case " $PYROOM_TEST_ALLOW_SKIP " in *" all "* | *" $1 "*) return 0 ;; esac
    return 1
}

# report SUITE PASSED FAILED SKIPPED [HOST_SKIPPED]: the one place that turns counts into
# the suite's verdict.
report() {
    local name=$1 p=$2 f=$3 s=$4 h=${5:-0}
    if [ "$s" -gt "$h" ] && ! allowed_skip "$name"; then
        echo "$name: $((s - h)) skipped test(s) count as failed (PYROOM_TEST_ALLOW_SKIP=$name allows them)"
        f=$((f + s - h))
        s=$h
    fi
    if [ $((p + f + s)) -eq 0 ]; then
        echo "$name: no test ran"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    echo "== $name: $p passed, $f failed, $s skipped"
}

# within SECONDS CMD...: runs CMD with a suite timeout; 124 means it was killed.
within() {
    local t=$1
    shift
    timeout --kill-after=20 "$t" "$@"
}

# read_counts KIND REPORT: sets C (an array "P F S H") from a report, printing every skip
# and its reason; a missing or unreadable report counts as one failure. The failed tests and
# the first lines of why go to $WHY, printed again just above the last line (a CI log's tail).
read_counts() {
    local out
    if out=$($COUNTS "$1" "$2" 2>"$LOGS/counts.err"); then
        read -r -a C <<<"$out"
    else
        C=(0 1 0 0)
    fi
    sed 's/^/  /' "$LOGS/counts.err"
    if [ "${C[1]}" -gt 0 ]; then $COUNTS why "$1" "$2" >>"$WHY" 2>&1; fi
}

# run_pytest SUITE ARGS...: one pytest session, read from its JUnit XML report.
run_pytest() {
    local name=$1 log="$LOGS/$1.log" xml="$LOGS/$1.xml"
    shift
    rm -f "$xml"
    within "$PYROOM_SUITE_TIMEOUT" $PY -m pytest -q -rfEs -p no:cacheprovider \
        --timeout="$PYROOM_TEST_TIMEOUT" --timeout-method=signal --junitxml="$xml" "$@" \
        >"$log" 2>&1
    local rc=$?
    tail -n 40 "$log"
    [ $rc -eq 124 ] && echo "$name: suite timed out after ${PYROOM_SUITE_TIMEOUT}s"
    read_counts junit "$xml"
    # pytest failed but the report shows no failure (an internal error, a crash at exit).
    if [ $rc -ne 0 ] && [ $rc -ne 5 ] && [ "${C[1]}" -eq 0 ]; then C[1]=1; fi
    report "$name" "${C[@]}"
}

# need_dir SUITE DIR: a suite whose tests are missing fails rather than vanishing.
need_dir() {
    if [ -d "$2" ] && [ -n "$(ls -A "$2" 2>/dev/null)" ]; then return 0; fi
    echo "$1: no tests in $2"
    report "$1" 0 1 0
    return 1
}

suite_runner() {
    need_dir runner tests/runner && run_pytest runner tests/runner
}

# Criterion binaries, one per tests/unit/test_*.c, each with a JSON report.
suite_unit() {
    need_dir unit tests/unit || return
    local P=0 F=0 S=0 H=0 src t name
    for src in tests/unit/test_*.c; do
        name=$(basename "$src" .c)
        t=$BUILD/tests/$name
        if [ ! -x "$t" ] || [ "$src" -nt "$t" ] || [ "$BUILD/libpyroom.a" -nt "$t" ]; then
            echo "unit: $t is missing or older than its sources (make BUILD=$BUILD unit)"
            F=$((F + 1))
            continue
        fi
        rm -f "$LOGS/$name.json"
        within "$PYROOM_SUITE_TIMEOUT" "$t" --jobs 1 --timeout "$PYROOM_TEST_TIMEOUT" \
            --json="$LOGS/$name.json" >"$LOGS/$name.log" 2>&1
        local rc=$?
        grep -E 'FAIL|CRASH|Timed out|Synthesis' "$LOGS/$name.log" | head -n 40
        read_counts criterion "$LOGS/$name.json"
        if [ $rc -ne 0 ] && [ "${C[1]}" -eq 0 ]; then
            echo "unit: $name exited $rc with no failing test"
            C[1]=1
        fi
        P=$((P + C[0])); F=$((F + C[1])); S=$((S + C[2])); H=$((H + C[3]))
    done
    report unit $P $F $S $H
}

# Each libFuzzer target replays its committed corpus, then explores briefly. In `make check`
# the seed is fixed so that a commit passes or fails the same way every time.
suite_fuzz() {
    need_dir fuzz tests/fuzz || return
    local p=0 f=0 src t name corpus seed=()
    if ! ./scripts/build-fuzz.sh >"$LOGS/fuzz-build.log" 2>&1; then
        tail -n 20 "$LOGS/fuzz-build.log"
        report fuzz 0 1 0
        return
    fi
    [ "${FUZZ_SEED:-1}" = random ] || seed=(-seed="${FUZZ_SEED:-1}")
    for src in tests/fuzz/fuzz_*.c; do
        name=$(basename "$src" .c)
        t=build/fuzz/$name
        corpus=tests/fuzz/corpus/${name#fuzz_}
        # New inputs go to a scratch directory (libFuzzer writes to the first one), so a
        # test run never adds files to the committed corpus.
        mkdir -p "$BUILD/fuzz-corpus/$name"
        if within "$PYROOM_SUITE_TIMEOUT" "$t" -runs=0 -artifact_prefix="$LOGS/$name-" "$corpus" \
            >"$LOGS/$name.log" 2>&1 &&
            within "$PYROOM_SUITE_TIMEOUT" "$t" "${seed[@]}" -max_total_time="${FUZZ_SECONDS:-5}" \
                -timeout="$PYROOM_TEST_TIMEOUT" -max_len=4096 -artifact_prefix="$LOGS/$name-" \
                "$BUILD/fuzz-corpus/$name" "$corpus" >>"$LOGS/$name.log" 2>&1; then
            p=$((p + 1))
        else
            echo "fuzz: $name failed"
            tail -n 30 "$LOGS/$name.log"
            f=$((f + 1))
        fi
    done
    report fuzz $p $f 0
}

suite_sandbox() {
    need_dir sandbox tests/sandbox && run_pytest sandbox tests/sandbox
}

suite_api-sqlite() {
    need_dir api-sqlite tests/api && PYROOM_TEST_DB=sqlite run_pytest api-sqlite tests/api
}

suite_api-postgres() {
    need_dir api-postgres tests/api || return
    if [ -z "${PYROOM_TEST_PG:-}" ]; then
        echo "api-postgres: no PostgreSQL (PYROOM_TEST_PG unset and scripts/pg.sh could not start one)"
        report api-postgres 0 1 0
        return
    fi
    PYROOM_TEST_DB=postgres run_pytest api-postgres tests/api
}
# Several nodes on one PostgreSQL behind Debian's nginx (tests/cluster).
suite_cluster() {
    need_dir cluster tests/cluster || return
    if [ -z "${PYROOM_TEST_PG:-}" ]; then
        echo "cluster: no PostgreSQL (PYROOM_TEST_PG unset and scripts/pg.sh could not start one)"
        report cluster 0 1 0
        return
    fi
    run_pytest cluster tests/cluster
}

# The Kubernetes manifests against the Kubernetes schemas, offline (deploy/validate.mjs), and
# deploy/Containerfile's runtime stage run in podman (tests/deploy).
suite_deploy() {
    if [ ! -d deploy/node_modules ]; then
        echo "deploy: deploy/node_modules missing (scripts/install-deps.sh installs it)"
        report deploy 0 1 0
        return
    fi
    if (cd deploy && within "$PYROOM_SUITE_TIMEOUT" node validate.mjs) >"$LOGS/deploy.log" 2>&1; then
        tail -n 1 "$LOGS/deploy.log"
        report deploy 1 0 0
    else
        tail -n 30 "$LOGS/deploy.log"
        report deploy 0 1 0
    fi
    # The image recipe run with podman, as the docs say (tests/deploy).
    need_dir deploy-container tests/deploy && run_pytest deploy-container tests/deploy
}

# The page's TypeScript must type-check (tsc --noEmit), and the OpenAPI document must be
# valid OpenAPI 3.1; one test each.
suite_web() {
    if [ ! -f web/package.json ]; then
        echo "web: no web/package.json"
        report web 0 1 0
        return
    fi
    local p=0 f=0
    if (cd web && within "$PYROOM_SUITE_TIMEOUT" npm run --silent typecheck) >"$LOGS/web.log" 2>&1; then
        p=$((p + 1))
    else
        tail -n 30 "$LOGS/web.log"
        f=$((f + 1))
    fi
    # The server's OpenAPI document against the OpenAPI 3.1 schema (npm validator).
    if (cd web && BUILD=$BUILD within "$PYROOM_SUITE_TIMEOUT" npm run --silent lint:openapi) \
        >"$LOGS/openapi.log" 2>&1; then
        p=$((p + 1))
    else
        tail -n 30 "$LOGS/openapi.log"
        f=$((f + 1))
    fi
    report web $p $f 0
}

# Browser tests: node:test's own TAP summary, cancelled (timed out) tests counted as failed.
suite_e2e() {
    local log="$LOGS/e2e.log"
    if [ ! -f tests/e2e/run.mjs ]; then
        echo "e2e: no tests/e2e/run.mjs"
        report e2e 0 1 0
        return
    fi
    within "$PYROOM_SUITE_TIMEOUT" node tests/e2e/run.mjs >"$log" 2>&1
    local rc=$?
    grep -E '^(not ok|# (tests|pass|fail|cancelled|skipped|todo) )' "$log" | tail -n 40
    [ $rc -eq 124 ] && echo "e2e: suite timed out after ${PYROOM_SUITE_TIMEOUT}s"
    read_counts tap "$log"
    if [ $rc -ne 0 ] && [ "${C[1]}" -eq 0 ]; then
        echo "e2e: node exited $rc with no failing test"
        C[1]=1
    fi
    report e2e "${C[@]}"
}

# One throw-away PostgreSQL cluster for every suite that wants it, stopped on exit. If it
# cannot start, those suites fail (their PostgreSQL tests skip, and a skip is a failure).
for s in $SUITES; do
    case " $PG_SUITES " in *" $s "*) want_pg=1 ;; esac
done
if [ -n "${want_pg:-}" ] && [ -z "${PYROOM_TEST_PG:-}" ] && [ -x scripts/pg.sh ]; then
    if PYROOM_TEST_PG=$(./scripts/pg.sh start 2>"$LOGS/pg.log"); then
        export PYROOM_TEST_PG
        trap './scripts/pg.sh stop >/dev/null 2>&1 || true' EXIT
    else
        echo "postgres: could not start"
        cat "$LOGS/pg.log"
    fi
fi

for s in $SUITES; do
    if declare -F "suite_$s" >/dev/null; then
        "suite_$s"
    else
        echo "$s: no such suite"
        report "$s" 0 1 0
    fi
done
if [ -s "$WHY" ]; then
    echo "== why (the first lines of each failure; every suite's log is in $LOGS):"
    head -n 120 "$WHY"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
