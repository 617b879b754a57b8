#!/bin/sh
# Builds each tests/fuzz/fuzz_NAME.c as a libFuzzer binary (clang, ASan+UBSan) in build/fuzz.
set -eu
cd "$(dirname "$0")/.."
mkdir -p build/fuzz
PKGS="libmicrohttpd jansson libsodium sqlite3 libpq libseccomp"
LIBSRC=$(ls src/*/*.c | grep -v '^src/main.c$')
FLAGS="-std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined $(pkg-config --cflags $PKGS)"
for f in tests/fuzz/fuzz_*.c; do
    [ -f "$f" ] || continue
    out=build/fuzz/$(basename "$f" .c)
    if [ ! -x "$out" ] || [ -n "$(find src tests/fuzz -newer "$out" -name '*.[ch]' | head -n 1)" ]; then
        # shellcheck disable=SC2086
        clang $FLAGS "$f" $LIBSRC $(pkg-config --libs $PKGS) -lwslay -lpthread -lutil -o "$out"
    fi
    mkdir -p "tests/fuzz/corpus/$(basename "$f" .c | sed 's/^fuzz_//')"
done
