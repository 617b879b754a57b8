#!/bin/sh
# `make bench`: every benchmark, each measuring its own baseline in the same run and
# printing figures and ratios. BENCHES selects some (auth api runs warm sandbox terminal web disk
# metrics intel cluster connections collab).
cd "$(dirname "$0")/.."
BENCHES=${BENCHES:-"auth api runs warm sandbox terminal web disk metrics intel cluster connections collab"}
status=0
for b in $BENCHES; do
    echo "==== bench/$b"
    if [ -x "bench/$b/run.sh" ]; then
        "bench/$b/run.sh" || status=1
    elif [ -f "bench/$b/run.mjs" ]; then
        # run.mjs first, then the directory's other benchmarks (bench/web/flood.mjs).
        for m in "bench/$b/run.mjs" $(ls "bench/$b"/*.mjs | grep -v '/run.mjs$'); do
            node "$m" || status=1
        done
    else
        echo "bench/$b: nothing to run"
    fi
done
exit $status
