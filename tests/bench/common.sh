# shellcheck shell=sh
# Sourced by the shell benchmarks (bench_server.sh, bench_fixed.sh).
#
# bench_init NAME: makes the work directory $work (removed at exit, with
# every process whose pid is added to $pids stopped first), a root key and
# a server certificate in it, and sets $root to the root's public key.
# Needs $CTL (parleyctl).
#
# bench_port LOG [WITH]: the port of the first "listening on
# 127.0.0.1:PORT with WITH..." line parleyd writes to LOG, waiting up to
# 30 s for it; prints nothing if none came.

bench_cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}

bench_init() {
    work=$(mktemp -d "/tmp/parley-bench-$1.XXXXXX")
    pids=""
    trap bench_cleanup EXIT
    trap 'exit 1' INT TERM
    # shellcheck disable=SC2034 # read by the scripts that source this
    root=$("$CTL" root-key "$work/root.key" | sed -n 's/.*: \([0-9a-f]\{64\}\)$/\1/p' | head -n 1)
    "$CTL" cert issue --root "$work/root.key" --key "$work/server.key" \
        --out "$work/server.cert" >/dev/null 2>&1
}

bench_port() {
    i=0
    while [ "$i" -lt 300 ]; do
        port_=$(sed -n "s/.*listening on 127\.0\.0\.1:\([0-9]*\) with ${2:-}.*/\1/p" "$1" | head -n 1)
        [ -z "$port_" ] || { echo "$port_"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
}
