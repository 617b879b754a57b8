#!/bin/bash
# bench/metrics: what recording metrics costs on the API's hot paths. One server with
# --metrics true and one with --metrics false, measured alternately in the same run
# (wrk, 2 threads, 64 connections, BENCH_SECONDS each, ROUNDS rounds) on GET /api/health
# (HTTP only: one counter and one histogram per request) and an authenticated file GET
# (HTTP plus two store calls). Prints each rate and on/off ratios; the machine's load
# shifts both sides alike because the rounds interleave, and the server's CPU time per
# request (from /proc) is printed beside the rate: it is the steadier figure.
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

cpu_ticks() { awk '{print $14 + $15}' /proc/$(cat $TMP/pid.$1)/stat; }

# One wrk round against a server: prints "req/s cpu_us_per_request". CPU time is the
# server process's own (utime + stime), which a loaded machine disturbs far less than
# the request rate.
rate() { # name, path kind
    local url ws out t0 t1
    read -r url ws < $TMP/$1/url
    t0=$(cpu_ticks $1)
    if [ "$2" = health ]; then
        out=$(wrk -t2 -c64 -d${DUR}s "$url/api/health")
    else
        out=$(wrk -t2 -c64 -d${DUR}s -s $TMP/$1/get.lua "$url/api/workspaces/$ws/files/data.txt")
    fi
    t1=$(cpu_ticks $1)
    echo "$out" | awk -v t=$((t1 - t0)) -v hz=$(getconf CLK_TCK) \
        '/Requests\/sec/ {r=$2} / requests in / {n=$1} END {printf "%s %.1f\n", r, t * 1e6 / hz / n}'
}

echo "bench/metrics: wrk -t2 -c64 -d${DUR}s, $ROUNDS rounds alternating, $(nproc) cores (shared machine: compare ratios)"
# SWAP=1 starts the server without metrics first (start order should not matter).
if [ "${SWAP:-0}" = 1 ]; then start off false; start on true; else start on true; start off false; fi
for kind in ${KINDS:-health file}; do
    on=0; off=0; con=0; coff=0
    for r in $(seq $ROUNDS); do
        read -r a ca < <(rate off $kind)
        read -r b cb < <(rate on $kind)
        printf "  %-7s round %d: metrics off %10s req/s %6s us CPU/req, on %10s req/s %6s us CPU/req\n" \
            $kind $r "$a" "$ca" "$b" "$cb"
        off=$(awk -v x=$off -v y=$a 'BEGIN{print x+y}'); on=$(awk -v x=$on -v y=$b 'BEGIN{print x+y}')
        coff=$(awk -v x=$coff -v y=$ca 'BEGIN{print x+y}'); con=$(awk -v x=$con -v y=$cb 'BEGIN{print x+y}')
    done
    awk -v k=$kind -v on=$on -v off=$off -v con=$con -v coff=$coff 'BEGIN {
        printf "%-7s metrics on/off: rate %.3f, server CPU per request %.3f (cost %+.1f %%)\n",
            k, on / off, con / coff, (con / coff - 1) * 100 }'
done
