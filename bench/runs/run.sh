#!/bin/sh
# bench/runs: see bench.py.
cd "$(dirname "$0")/../.." && exec /usr/bin/python3 bench/runs/bench.py
