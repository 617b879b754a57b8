#!/bin/sh
# bench/sandbox: sandboxed `python3 -c pass` against bare host python3 and against bubblewrap
# with an equivalent policy, in one run, interleaved in rounds so machine load hits all three
# alike. Prints medians, p90s and ratios. Installs Debian's bubblewrap for itself.
#   N=60 ROUNDS=6 bench/sandbox/run.sh
# Then the one-shot command (`pyroom sandbox run` as a whole process) against bwrap. With
# BENCH_BASELINE_BIN=other/pyroom both parts also run another build, interleaved (a build
# with the server split off needs other/pyroom-server beside it); ONE_SHOT_ONLY=1 runs only
# the one-shot part. Last, a cold print(1) through the API against host python3 (cold.py).
set -eu
cd "$(dirname "$0")/../.."
if ! command -v bwrap >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
fi
[ -x build/pyroom ] && [ -x build/pyroom-server ] && [ -x build/pyroom-sandbox ] ||
    make --no-print-directory build/pyroom build/pyroom-server build/pyroom-sandbox >/dev/null
/usr/bin/python3 bench/sandbox/bench.py "$@"
# then a cold print(1) through the API (bench/sandbox/cold.py); SKIP_COLD=1 leaves it out
[ -n "${SKIP_COLD:-}" ] || [ -n "${ONE_SHOT_ONLY:-}" ] || exec /usr/bin/python3 bench/sandbox/cold.py
