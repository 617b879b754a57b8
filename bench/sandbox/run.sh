#!/bin/sh
# bench/sandbox: sandboxed `python3 -c pass` against bare host python3 and against bubblewrap
# with an equivalent policy, in one run, interleaved in rounds so machine load hits all three
# alike. Prints medians, p90s and ratios. Installs Debian's bubblewrap for itself.
#   N=60 ROUNDS=6 bench/sandbox/run.sh
set -eu
cd "$(dirname "$0")/../.."
if ! command -v bwrap >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
fi
[ -x build/pyroom ] || make --no-print-directory build/pyroom >/dev/null
exec /usr/bin/python3 bench/sandbox/bench.py "$@"
