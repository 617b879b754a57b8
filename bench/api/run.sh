#!/bin/bash
# bench/api: requests/s and p50/p99 latency on loopback (wrk, 2 threads, 64 connections,
# 10 s each) for GET /api/health, an authenticated file GET and a 10 KB file PUT, on
# SQLite and on PostgreSQL. Baseline in the same run: wrk against a static file served by
# pyroom's own web handler is not a fair floor, so the figure printed beside each is the
# health endpoint's rate (the cost of HTTP alone) and each row's ratio to it.
set -eu
cd "$(dirname "$0")/../.."
BIN=${PYROOM_BIN:-build/pyroom}
DUR=${BENCH_SECONDS:-10}
TMP=$(mktemp -d)
trap 'kill $(cat $TMP/pid 2>/dev/null) 2>/dev/null || true; ./scripts/pg.sh stop >/dev/null 2>&1 || true; rm -rf $TMP' EXIT
command -v wrk >/dev/null || { echo "bench/api: wrk is missing (make bench installs it)"; exit 1; }

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # database url
    PORT=$(port)
    "$BIN" serve --listen 127.0.0.1:$PORT --database "$1" --data-dir $TMP/data --access-log false \
        --login-rate 1000 2>$TMP/log & echo $! > $TMP/pid
    for _ in $(seq 100); do curl -sf http://127.0.0.1:$PORT/api/health >/dev/null && break; sleep 0.1; done
    URL=http://127.0.0.1:$PORT
    /usr/bin/python3 - "$URL" > $TMP/auth <<'PY'
import sys, requests
u = sys.argv[1]
s = requests.Session()
r = s.post(u + "/api/auth/register", json={"username": "bench", "password": "benchmark-pass"})
csrf = r.json()["csrf_token"]
w = s.post(u + "/api/workspaces", json={"name": "bench"}, headers={"X-CSRF-Token": csrf}).json()
s.put(u + f"/api/workspaces/{w['id']}/files/data.txt", data=b"x" * 10240, headers={"X-CSRF-Token": csrf})
print(s.cookies["pyroom_session"], csrf, w["id"])
PY
    read -r COOKIE CSRF WS < $TMP/auth
    head -c 10240 /dev/zero | tr '\0' 'y' > $TMP/body
}

stop() { kill "$(cat $TMP/pid)"; wait "$(cat $TMP/pid)" 2>/dev/null || true; }

measure() { # label, lua script or "", path
    local out
    out=$(wrk -t2 -c64 -d${DUR}s --latency ${2:+-s $2} "$URL$3" 2>&1)
    local rps p50 p99
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    local non2xx
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    printf "%-10s %-22s %10s req/s   p50 %-9s p99 %-9s %s\n" "$DB" "$1" "$rps" "$p50" "$p99" \
        "${non2xx:+(non-2xx: $non2xx)}"
    eval "RPS_$4=$rps"
}

scripts() {
    cat > $TMP/get.lua <<LUA
wrk.headers["Cookie"] = "pyroom_session=$COOKIE"
LUA
    cat > $TMP/put.lua <<LUA
wrk.method = "PUT"
wrk.headers["Cookie"] = "pyroom_session=$COOKIE"
wrk.headers["X-CSRF-Token"] = "$CSRF"
local f = io.open("$TMP/body", "rb"); wrk.body = f:read("*a"); f:close()
LUA
}

run_all() {
    measure "GET /api/health" "" /api/health health
    scripts
    measure "GET file (auth)" $TMP/get.lua /api/workspaces/$WS/files/data.txt get
    measure "PUT 10 KB file" $TMP/put.lua /api/workspaces/$WS/files/data.txt put
    awk -v h="$RPS_health" -v g="$RPS_get" -v p="$RPS_put" -v db="$DB" \
        'BEGIN { printf "%-10s ratios to health: file GET %.2f, file PUT %.2f\n", db, g / h, p / h }'
}

echo "bench/api: wrk -t2 -c64 -d${DUR}s on 127.0.0.1, $(nproc) cores"
DB=sqlite; start "sqlite:$TMP/bench.db"; run_all; stop
if [ -z "${BENCH_NO_PG:-}" ] && PG=$(./scripts/pg.sh start 2>/dev/null); then
    DB=postgres; start "$PG"; run_all; stop
else
    echo "postgres: could not start a cluster; skipped"
fi
