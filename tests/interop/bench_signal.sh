#!/bin/sh
# parley against libsignal-protocol-c: wall-clock times (bench_signal, best
# of five in one run, the two sides taking turns) and instruction counts per
# operation, taken with callgrind on each side separately (only the measured
# part is collected), then the same for the AES-256-CBC / HMAC-SHA256 floor
# of the 4 KiB operations.
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
    eval "p_$op=$p"
    awk -v op="$op" -v p="$p" -v l="$l" 'BEGIN { printf "%-14s %14d %14d %8.2fx\n", op, p, l, l / p }'
done

# The floor of the 4 KiB operations (OpenSSL, no Signal; see bench_signal.c),
# as a share of parley's instructions for the operation it bounds. Under
# valgrind neither parley nor OpenSSL sees the SHA extensions.
echo
printf '%-16s %14s %22s\n' "floor instr." "instr/op" "share of parley's op"
for spec in aes_enc4k:encrypt4k hmac4k:decrypt4k aes_dec4k:decrypt4k; do
    f=${spec%%:*}
    against=${spec#*:}
    c=$(count "$f" floor 100)
    eval "p=\$p_$against"
    awk -v f="$f" -v c="$c" -v p="$p" -v a="$against" \
        'BEGIN { printf "%-16s %14d %12.1f%% of %s\n", f, c, 100 * c / p, a }'
done
