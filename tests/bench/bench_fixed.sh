#!/bin/sh
# One offered rate, several rounds, and where the CPU went
# (bench/RESULTS-server.md, "Online p99 at 25,000/s: where the cores go").
#
#   sh tests/bench/bench_fixed.sh BUILD_DIR [RATE [ROUNDS]]
#
# RATE defaults to 25,000 messages/s (half the online target) and ROUNDS
# to 3; `make bench` runs it so.
# Each round starts a fresh parleyd (one worker unless told otherwise) on
# fresh accounts, runs parley-load with 1,000 connections in pairs at RATE
# messages/s for 6 s after a 1 s warm-up, and prints p50/p99 with the CPU
# the server (all its threads) and the load generator used over the middle
# 3 s of the traffic, in cores, from /proc/PID/stat. A run whose p50 is
# tens of milliseconds is a standing queue (one of the two programs at a
# full core, most often the server's loop), not a tail.
# Environment: PARLEY_FIXED_PIN="S L" runs the server on CPU S and the load
# generator on CPU L (taskset); PARLEY_FIXED_SERVER_ARGS adds parleyd flags
# (such as --workers 2); PARLEY_FIXED_PARLEYD measures another parleyd
# binary (a reference build) under the same load. Everything it starts it
# stops.
set -eu

build=$(cd "${1:?usage: bench_fixed.sh BUILD_DIR [RATE [ROUNDS]]}" && pwd)
RATE=${2:-25000}
ROUNDS=${3:-3}
PIN=${PARLEY_FIXED_PIN:-}
SERVER_ARGS=${PARLEY_FIXED_SERVER_ARGS:-}
PARLEYD=${PARLEY_FIXED_PARLEYD:-$build/src/server/parleyd}
CTL=$build/src/cli/parleyctl/parleyctl
LOAD=$build/src/cli/parley-load/parley-load
CONNS=1000
for p in "$PARLEYD" "$CTL" "$LOAD"; do
    [ -x "$p" ] || { echo "bench_fixed: $p not built" >&2; exit 1; }
done
case "$RATE$ROUNDS" in *[!0-9]*) echo "bench_fixed: RATE and ROUNDS are whole numbers" >&2; exit 2 ;; esac
srv_pin=""
load_pin=""
if [ -n "$PIN" ]; then
    command -v taskset >/dev/null || { echo "bench_fixed: PARLEY_FIXED_PIN needs taskset" >&2; exit 1; }
    # shellcheck disable=SC2086 # two CPU numbers
    set -- $PIN
    srv_pin="taskset -c $1"
    load_pin="taskset -c $2"
fi

# shellcheck source=tests/bench/common.sh
. "$(dirname "$0")/common.sh"
bench_init fixed
"$LOAD" provision --db "$work/p.db" --users $((ROUNDS * CONNS)) >/dev/null

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
cores() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz / 3 }'; }

echo "== $RATE messages/s offered, $CONNS connections in pairs, ${PIN:+pinned $PIN, }parleyd --workers 1 $SERVER_ARGS"
k=0
while [ "$k" -lt "$ROUNDS" ]; do
    log=$work/srv$k.log
    # shellcheck disable=SC2086 # flag lists
    $srv_pin "$PARLEYD" --listen 127.0.0.1:0 --db "$work/p.db" --key "$work/server.key" \
        --cert "$work/server.cert" --workers 1 $SERVER_ARGS 2>"$log" &
    spid=$!
    pids="$pids $spid"
    port=$(bench_port "$log")
    [ -n "$port" ] || { echo "bench_fixed: parleyd did not start" >&2; cat "$log" >&2; exit 1; }
    # shellcheck disable=SC2086
    $load_pin "$LOAD" run --connect 127.0.0.1:"$port" --root "$root" --conns "$CONNS" \
        --first $((k * CONNS)) --rate "$RATE" --duration 6 --warmup 1 >"$work/load$k" 2>&1 &
    lpid=$!
    pids="$pids $lpid"
    i=0
    while ! grep -q '^logins' "$work/load$k" && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    sleep 3
    s0=$(ticks "$spid") l0=$(ticks "$lpid")
    sleep 3
    s1=$(ticks "$spid") l1=$(ticks "$lpid")
    wait "$lpid" || true
    kill -TERM "$spid"
    wait "$spid" || true
    res=$(sed -n 's/^messages: .*delivered \([0-9]*\/s\).*\(p50 [0-9.]* ms, p99 [0-9.]* ms\).*/\1, \2/p' "$work/load$k")
    [ -n "$res" ] || { echo "bench_fixed: no result in round $((k + 1))" >&2; cat "$work/load$k" >&2; exit 1; }
    echo "  round $((k + 1)): delivered $res; server $(cores $((s1 - s0))) cores, load generator $(cores $((l1 - l0)))"
    k=$((k + 1))
done
