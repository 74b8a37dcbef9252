#!/bin/sh
# Installs the build into a scratch prefix, then builds and runs a small
# program against it through pkg-config alone: the headers, the shared
# library and parley.pc must be enough for a user of libparley.
#
#   tests/install/install_check.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name parley.pc | head -n 1)
[ -n "$pc" ] || { echo "install_check: parley.pc not installed" >&2; exit 1; }
[ -f "$tmp/prefix/share/man/man1/parley.1" ] || { echo "install_check: man page missing" >&2; exit 1; }
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-prefix --cflags --libs parley)
cc -std=c11 -Wall -Werror -o "$tmp/prog" "$src/tests/install/prog.c" $flags
libdir=$(dirname "$(dirname "$pc")")
LD_LIBRARY_PATH=$libdir "$tmp/prog"
