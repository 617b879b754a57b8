#!/bin/bash
# bench/metrics: what recording metrics costs on the API's hot paths. One server with
# --metrics true and one with --metrics false, measured alternately in the same run
# (wrk, 2 threads, 64 connections, BENCH_SECONDS each, ROUNDS rounds) on GET /api/health
# (HTTP only: one counter and one histogram per request) and an authenticated file GET
# (HTTP plus two store calls). Prints each rate and on/off ratios; the machine's load
# shifts both sides alike because the rounds interleave.
set -eu
cd "$(dirname "$0")/../.."
BIN=${PYROOM_BIN:-build/pyroom}
DUR=${BENCH_SECONDS:-5}
ROUNDS=${ROUNDS:-3}
TMP=$(mktemp -d)
trap 'for p in $TMP/pid.*; do kill $(cat $p) 2>/dev/null || true; done; rm -rf $TMP' EXIT
command -v wrk >/dev/null || { echo "bench/metrics: wrk is missing (make bench installs it)"; exit 1; }

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # name, --metrics value
    local p
    p=$(port)
    mkdir -p $TMP/$1
    "$BIN" serve --listen 127.0.0.1:$p --database "sqlite:$TMP/$1/db" --data-dir $TMP/$1/data \
        --access-log false --metrics "$2" 2>$TMP/$1/log & echo $! > $TMP/pid.$1
    for _ in $(seq 100); do curl -sf http://127.0.0.1:$p/api/health >/dev/null && break; sleep 0.1; done
    /usr/bin/python3 - "http://127.0.0.1:$p" > $TMP/$1/auth <<'PY'
import sys, requests
u = sys.argv[1]
s = requests.Session()
r = s.post(u + "/api/auth/register", json={"username": "bench", "password": "benchmark-pass"})
csrf = r.json()["csrf_token"]
w = s.post(u + "/api/workspaces", json={"name": "bench"}, headers={"X-CSRF-Token": csrf}).json()
s.put(u + f"/api/workspaces/{w['id']}/files/data.txt", data=b"x" * 10240, headers={"X-CSRF-Token": csrf})
print(s.cookies["pyroom_session"], w["id"])
PY
    read -r cookie ws < $TMP/$1/auth
    echo "wrk.headers[\"Cookie\"] = \"pyroom_session=$cookie\"" > $TMP/$1/get.lua
    echo "http://127.0.0.1:$p $ws" > $TMP/$1/url
}

rate() { # name, path kind
    local url ws
    read -r url ws < $TMP/$1/url
    if [ "$2" = health ]; then
        wrk -t2 -c64 -d${DUR}s "$url/api/health" | awk '/Requests\/sec/ {print $2}'
    else
        wrk -t2 -c64 -d${DUR}s -s $TMP/$1/get.lua "$url/api/workspaces/$ws/files/data.txt" |
            awk '/Requests\/sec/ {print $2}'
    fi
}

echo "bench/metrics: wrk -t2 -c64 -d${DUR}s, $ROUNDS rounds alternating, $(nproc) cores (shared machine: compare ratios)"
# Start order alternates with the first round's so neither server is always the first one.
if [ "${SWAP:-0}" = 1 ]; then start off false; start on true; else start on true; start off false; fi
for kind in ${KINDS:-health file}; do
    on=0; off=0
    for r in $(seq $ROUNDS); do
        a=$(rate off $kind); b=$(rate on $kind)
        printf "  %-7s round %d: metrics off %10s req/s, on %10s req/s\n" $kind $r "$a" "$b"
        off=$(awk -v x=$off -v y=$a 'BEGIN{print x+y}'); on=$(awk -v x=$on -v y=$b 'BEGIN{print x+y}')
    done
    awk -v k=$kind -v on=$on -v off=$off 'BEGIN { printf "%-7s metrics on/off: %.3f (cost %.1f %%)\n", k, on/off, (1-on/off)*100 }'
done
