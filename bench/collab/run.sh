#!/bin/sh
# bench/collab: follow (presence) and co-editing relay latency with 2 and 20 followers
# against a plain file event in the same run, and server memory per live document (bench.py);
# then follow latency as a person sees it, in two Chromium pages (follow.mjs).
#   N=200 bench/collab/run.sh
set -eu
cd "$(dirname "$0")/../.."
[ -x build/pyroom ] || make --no-print-directory build/pyroom >/dev/null
/usr/bin/python3 bench/collab/bench.py "$@"
[ -d web/dist ] && exec node bench/collab/follow.mjs
