#!/bin/sh
# parley against libsignal-protocol-c: wall-clock times (bench_signal, best
# of three in one run) and instruction counts per operation, taken with
# callgrind on each side separately (only the measured part is collected).
#
#   tests/interop/bench_signal.sh [BUILD_DIR]      (default: build)
set -eu
build=${1:-build}
bin="$build/bench/bench_signal"
[ -x "$bin" ] || { echo "bench_signal.sh: $bin not built" >&2; exit 1; }

"$bin"
echo

if ! command -v valgrind >/dev/null 2>&1; then
    echo "bench_signal.sh: valgrind not installed: no instruction counts" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

count() { # op side n -> instructions per op
    out="$tmp/$1.$2"
    valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out" \
        "$bin" --callgrind "$1:$2" -n "$3" >/dev/null 2>&1
    awk -v n="$3" '/^(summary|totals):/ { print int($2 / n); exit }' "$out"
}

printf '%-14s %14s %14s %9s\n' "instructions" "parley" "lsc" "ratio"
for spec in setup:10 encrypt100:200 decrypt100:200 encrypt4k:100 decrypt4k:100 \
            pingpong:40 group_encrypt:200 group_decrypt:200; do
    op=${spec%%:*}
    n=${spec#*:}
    p=$(count "$op" parley "$n")
    l=$(count "$op" lsc "$n")
    awk -v op="$op" -v p="$p" -v l="$l" 'BEGIN { printf "%-14s %14d %14d %8.2fx\n", op, p, l, l / p }'
done
