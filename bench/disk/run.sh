#!/bin/sh
# bench/disk: see bench.py.
cd "$(dirname "$0")/../.." && exec /usr/bin/python3 bench/disk/bench.py
