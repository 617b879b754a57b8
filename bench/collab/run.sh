#!/bin/sh
# bench/collab: follow (presence) and co-editing relay latency with 2 and 20 followers
# against a plain file event in the same run, and server memory per live document.
#   N=200 bench/collab/run.sh
set -eu
cd "$(dirname "$0")/../.."
[ -x build/pyroom ] || make --no-print-directory build/pyroom >/dev/null
exec /usr/bin/python3 bench/collab/bench.py "$@"
