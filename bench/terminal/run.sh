#!/bin/sh
# bench/terminal: keystroke echo latency and bulk output through pyroom's terminal against a
# direct PTY in the same run, and memory per idle terminal. See bench.py.
#   N=1000 bench/terminal/run.sh
set -eu
cd "$(dirname "$0")/../.."
[ -x build/pyroom ] || make --no-print-directory build/pyroom >/dev/null
exec /usr/bin/python3 bench/terminal/bench.py "$@"
