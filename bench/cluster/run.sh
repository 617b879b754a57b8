#!/bin/sh
# bench/cluster: see bench.py.
cd "$(dirname "$0")/../.." && exec /usr/bin/python3 bench/cluster/bench.py
