#!/bin/sh
# Install what pyroom needs on a Debian 12 machine: build tools, libraries, the test
# tools and the Python that sandboxes run. Idempotent: installs only what is missing.
set -eu

PKGS="build-essential pkg-config
libmicrohttpd-dev libjansson-dev libsodium-dev libsqlite3-dev libpq-dev libseccomp-dev zlib1g-dev
libcriterion-dev
postgresql
python3 python3-pytest python3-pytest-timeout python3-requests python3-websocket python3-jsonschema
python3-numpy python3-pandas python3-scipy python3-matplotlib libpython3.11
python3-jedi python3-pyflakes black
clang libclang-rt-14-dev clang-format
chromium wrk nodejs npm
nginx-light prometheus
podman runc"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
# nodejs/npm may come from outside Debian (as on the CI machines); accept any working node.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    missing=$(echo "$missing" | tr ' ' '\n' | grep -v -x -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo "$missing" | xargs)
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "install-deps: installing $missing"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The page's build tools and libraries, pinned by web/package-lock.json.
if [ -f web/package.json ]; then
    if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.stamp ]; then
        (cd web && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
    fi
fi
# The Kubernetes schemas that `make check` validates deploy/kubernetes against.
if [ -f deploy/package.json ]; then
    if [ ! -d deploy/node_modules ] || [ deploy/package-lock.json -nt deploy/node_modules/.stamp ]; then
        (cd deploy && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
    fi
fi
