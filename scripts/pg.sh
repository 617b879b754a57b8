#!/bin/bash
# A throw-away PostgreSQL 15 cluster for tests.
#   scripts/pg.sh start   initialise a cluster in a temporary directory, start it on a free
#                         loopback port with its own socket directory, create a database
#                         and print its URL (postgres://pyroom@127.0.0.1:PORT/pyroom)
#   scripts/pg.sh stop    stop it and remove the directory
#   scripts/pg.sh url     print the URL of the running cluster
#   scripts/pg.sh down    stop the server but keep the cluster (a database outage, in tests)
#   scripts/pg.sh up      start it again on the same port
# As root the cluster runs as the unprivileged user `postgres` (initdb and postgres refuse
# root), which owns the data directory and the log. The cluster's directory is recorded in
# build/pg.dir (PYROOM_PG_STATE overrides), one per checkout; `start` first stops and removes
# a cluster that an aborted run left behind. Only the URL goes to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
STATE=${PYROOM_PG_STATE:-$PWD/build/pg.dir}
DB=pyroom
ROLE=pyroom

log() { echo "pg.sh: $*" >&2; }

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

stop_dir() { # dir
    local dir=$1
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    if [ -f "$dir/data/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" status -D "$dir/data" >/dev/null 2>&1; then
        as_pg "$PGBIN/pg_ctl" stop -D "$dir/data" -m fast -w -t 30 >/dev/null 2>&1 ||
            as_pg "$PGBIN/pg_ctl" stop -D "$dir/data" -m immediate -w -t 10 >/dev/null 2>&1 || true
    fi
    case "$dir" in /tmp/pyroom-pg.*) rm -rf "$dir" ;; esac
}

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd_stop() {
    if [ -f "$STATE" ]; then
        stop_dir "$(sed -n 1p "$STATE")"
        rm -f "$STATE"
    fi
    # Clusters of this checkout whose state file was lost (e.g. `make clean` meanwhile);
    # other checkouts' clusters are left alone.
    local d
    for d in /tmp/pyroom-pg.*; do
        [ -f "$d/owner" ] && [ "$(cat "$d/owner")" = "$STATE" ] && stop_dir "$d"
    done
    return 0
}

cmd_url() {
    [ -f "$STATE" ] || { log "no cluster"; exit 1; }
    sed -n 2p "$STATE"
}

cmd_start() {
    [ -x "$PGBIN/initdb" ] || { log "$PGBIN/initdb not found (apt-get install postgresql-15)"; exit 1; }
    cmd_stop # a cluster left running by an aborted run
    mkdir -p "$(dirname "$STATE")"
    local dir port url
    dir=$(mktemp -d /tmp/pyroom-pg.XXXXXX)
    chmod 755 "$dir"
    mkdir "$dir/sock"
    printf '%s\n' "$STATE" >"$dir/owner"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres: "$dir"
    fi
    printf '%s\n' "$dir" >"$STATE"

    as_pg "$PGBIN/initdb" -D "$dir/data" -U "$ROLE" -A trust -E UTF8 --locale=C.UTF-8 \
        --no-instructions >"$dir/initdb.log" 2>&1 || {
        log "initdb failed:"; cat "$dir/initdb.log" >&2; cmd_stop; exit 1; }

    local try
    for try in 1 2 3 4 5; do
        port=$(free_port)
        if as_pg "$PGBIN/pg_ctl" start -D "$dir/data" -l "$dir/log" -w -t 30 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c max_connections=200" \
            >/dev/null 2>&1; then
            break
        fi
        log "start on port $port failed (try $try)"
        port=""
    done
    if [ -z "$port" ]; then
        log "could not start postgres:"; tail -n 20 "$dir/log" >&2 || true; cmd_stop; exit 1
    fi
    as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U "$ROLE" "$DB" >&2 || {
        log "createdb failed"; cmd_stop; exit 1; }
    url="postgres://$ROLE@127.0.0.1:$port/$DB"
    printf '%s\n%s\n' "$dir" "$url" >"$STATE"
    echo "$url"
}

cmd_down() {
    [ -f "$STATE" ] || { log "no cluster"; exit 1; }
    as_pg "$PGBIN/pg_ctl" stop -D "$(sed -n 1p "$STATE")/data" -m fast -w -t 30 >/dev/null
}

cmd_up() {
    [ -f "$STATE" ] || { log "no cluster"; exit 1; }
    local dir port
    dir=$(sed -n 1p "$STATE")
    port=$(sed -n 2p "$STATE" | sed -E 's/.*:([0-9]+)\/.*/\1/')
    as_pg "$PGBIN/pg_ctl" start -D "$dir/data" -l "$dir/log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c max_connections=200" >/dev/null
}

case "${1:-}" in
start) cmd_start ;;
down) cmd_down ;;
up) cmd_up ;;
stop) cmd_stop ;;
url) cmd_url ;;
*) echo "usage: $0 start|stop|url|down|up" >&2; exit 2 ;;
esac
