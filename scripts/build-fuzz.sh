#!/bin/sh
# Builds each tests/fuzz/fuzz_NAME.c as a libFuzzer binary (clang, ASan+UBSan) in build/fuzz.
# The library is compiled once into build/fuzz/obj (incrementally), then linked per target.
set -eu
cd "$(dirname "$0")/.."
mkdir -p build/fuzz/obj
# The same libraries as the Makefile (one list, so the two cannot drift).
PKGS="$(sed -n "s/^PKGS *:= *//p" Makefile)"
CFLAGS="-std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer-no-link,address,undefined $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lpthread"
# src/api/openapi.c embeds the generated OpenAPI document (as the Makefile does).
if [ ! -f build/fuzz/openapi.json ] || [ scripts/openapi.py -nt build/fuzz/openapi.json ] ||
    [ src/api/errors.h -nt build/fuzz/openapi.json ] || [ src/base/events.h -nt build/fuzz/openapi.json ] ||
    [ scripts/codes.py -nt build/fuzz/openapi.json ]; then
    python3 scripts/openapi.py build/fuzz/openapi.json
fi
# src/sandbox/seccomp.c embeds the filter the build compiles (the Makefile makes it).
make --no-print-directory -s build/gen/seccomp_filter.h
objs=""
for c in src/*/*.c; do
    o=build/fuzz/obj/$(echo "$c" | tr '/' '_' | sed 's/\.c$/.o/')
    # Rebuild when the source or any header changed since the object was made.
    # (Two finds: one `find "$c" src -name '*.h'` would filter the .c itself out.)
    if [ ! -f "$o" ] || [ "$c" -nt "$o" ] ||
        [ -n "$(find src -name '*.h' -newer "$o" 2>/dev/null | head -n 1)" ]; then
        # shellcheck disable=SC2086
        extra=""
        [ "$c" = src/api/openapi.c ] && extra='-DPYROOM_OPENAPI_FILE="build/fuzz/openapi.json"'
        [ "$c" = src/sandbox/seccomp.c ] && extra='-iquote . -DPYROOM_SECCOMP_FILTER="build/gen/seccomp_filter.h"'
        clang $CFLAGS $extra -c "$c" -o "$o"
    fi
    objs="$objs $o"
done
for f in tests/fuzz/fuzz_*.c; do
    [ -f "$f" ] || continue
    out=build/fuzz/$(basename "$f" .c)
    if [ ! -x "$out" ] || [ -n "$(find "$f" $objs -newer "$out" 2>/dev/null | head -n 1)" ]; then
        # shellcheck disable=SC2086
        clang $CFLAGS -fsanitize=fuzzer "$f" $objs $LIBS -o "$out"
    fi
    mkdir -p "tests/fuzz/corpus/$(basename "$f" .c | sed 's/^fuzz_//')"
done
