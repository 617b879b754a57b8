#!/bin/sh
# bench/auth: the dummy verify (a login for an unknown user) against a real one with a
# wrong password, interleaved in one run; prints both medians and their ratio (aim: 1.00,
# anything between 0.5 and 2 hides nothing an attacker can measure over the network's noise).
# Built against build/libpyroom.a (make builds it). ROUNDS: verifies of each kind.
set -eu
cd "$(dirname "$0")/../.."
[ -f build/libpyroom.a ] || { echo "bench/auth: build/libpyroom.a missing (run make)"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
${CC:-cc} -std=gnu11 -O2 -D_GNU_SOURCE -Isrc bench/auth/dummy.c build/libpyroom.a \
    $(pkg-config --cflags --libs libsodium) -lpthread -o "$TMP/dummy"
"$TMP/dummy" "${ROUNDS:-15}"
