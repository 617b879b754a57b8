#!/bin/sh
# bench/warm: see bench.py.
cd "$(dirname "$0")/../.." && exec /usr/bin/python3 bench/warm/bench.py
