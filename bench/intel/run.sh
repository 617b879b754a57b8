#!/bin/sh
# bench/intel: see bench.py.
cd "$(dirname "$0")/../.." && exec /usr/bin/python3 bench/intel/bench.py
