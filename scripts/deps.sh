#!/bin/sh
# Installs every Debian and npm package that parley's build, tests, demo,
# benchmarks and fuzzers need. Idempotent: does nothing when all is there.
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libsodium-dev libssl-dev libprotobuf-c-dev protobuf-c-compiler libexpat1-dev
libevent-dev libmicrohttpd-dev libcurl4-openssl-dev libsqlite3-dev libpq-dev
libhiredis-dev libinih-dev libqrencode-dev libsignal-protocol-c-dev
python3 valgrind"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
# node and npm may come from another source than Debian's packages (which
# would conflict with it): install Debian's only when the commands are absent.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "deps: installing$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# The independent Signal implementation used as a test peer.
here=$(cd "$(dirname "$0")/.." && pwd)
nodedir="$here/tests/interop/node"
if [ -f "$nodedir/package.json" ] && [ ! -d "$nodedir/node_modules/@signalapp/libsignal-client" ]; then
    echo "deps: installing npm packages in tests/interop/node"
    (cd "$nodedir" && npm ci --no-audit --no-fund --loglevel=error)
fi
exit 0
