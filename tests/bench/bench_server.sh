#!/bin/sh
# parleyd under parley-load on loopback (bench/RESULTS-server.md).
#
#   sh tests/bench/bench_server.sh BUILD_DIR
#
# Provisions accounts straight into a fresh database, then runs real
# parleyd processes against real parley-load processes on 127.0.0.1:
#   1. idle memory: IDLE authenticated connections to one server process,
#      its RSS read from /proc after the idle trim has run; the logins of
#      that phase give logins/s and logins per second of server CPU time;
#   2. several processes: --processes PROCS on one port, IDLE connections
#      each, RSS of every server process;
#   3. messages between online devices: the offered rate is stepped up
#      while the server keeps up; the best delivered rate is the figure,
#      and half of it is run again for p50/p99 on a fresh server, once
#      from a cold start and once after WARMUP seconds of the same traffic
#      left out of the figures (the steady state the target is about), and
#      so is half the target rate (25,000 and 10,000/s), REPEAT times on
#      fresh servers, the median p99 being the figure; with
#      sync=normal (WAL, a commit survives a crash of the process) and
#      sync=full (every group commit fsynced: the durable queue) and
#      --delivery-hold-ms 0 (every copy written before the sender's ack).
# Everything it starts it stops; the whole run is bounded (a few minutes).
# Environment: PARLEY_BENCH_IDLE (15000), PARLEY_BENCH_PROCS (2),
# PARLEY_BENCH_PHASES ("idle procs online durable"), PARLEY_BENCH_RATES,
# PARLEY_BENCH_MSG_CONNS, PARLEY_BENCH_MSG_SECONDS, PARLEY_BENCH_MSG_WORKERS,
# PARLEY_BENCH_WARMUP (1), PARLEY_BENCH_REPEAT (3), PARLEY_BENCH_SERVER_ARGS
# (more parleyd flags, such as --commit-delay-us 0), and
# PARLEY_BENCH_PARLEYD to measure another parleyd binary (a reference
# build) with the same load.
# Figures are printed as ratios against the targets and the reference
# servers named in bench/RESULTS-server.md.
set -eu

build=$(cd "${1:-build}" && pwd)
PARLEYD=${PARLEY_BENCH_PARLEYD:-$build/src/server/parleyd}
CTL=$build/src/cli/parleyctl/parleyctl
LOAD=$build/src/cli/parley-load/parley-load
IDLE=${PARLEY_BENCH_IDLE:-15000}
PROCS=${PARLEY_BENCH_PROCS:-2}
MSG_CONNS=${PARLEY_BENCH_MSG_CONNS:-1000}
MSG_SECONDS=${PARLEY_BENCH_MSG_SECONDS:-4}
MSG_WORKERS=${PARLEY_BENCH_MSG_WORKERS:-1}
WARMUP=${PARLEY_BENCH_WARMUP:-1}
REPEAT=${PARLEY_BENCH_REPEAT:-3}
SERVER_ARGS=${PARLEY_BENCH_SERVER_ARGS:-}
PHASES=${PARLEY_BENCH_PHASES:-idle procs online durable}
HZ=$(getconf CLK_TCK)
for p in "$PARLEYD" "$CTL" "$LOAD"; do
    [ -x "$p" ] || { echo "bench_server: $p not built" >&2; exit 1; }
done

# shellcheck source=tests/bench/common.sh
. "$(dirname "$0")/common.sh"
bench_init server
RATES=${PARLEY_BENCH_RATES:-2500 5000 7500 10000 15000 20000 30000 40000 50000 60000 70000}
users=$((IDLE * PROCS + 2 * ($(echo "$RATES" | wc -w) + 2 + REPEAT) * MSG_CONNS))
t0=$(date +%s)
"$LOAD" provision --db "$work/p.db" --users "$users" >/dev/null
echo "provisioned $users accounts in $(( $(date +%s) - t0 )) s"

# start_server LOG ARGS...: starts parleyd, waits for its port, sets SRV_PID and PORT.
start_server() {
    log=$1
    shift
    # shellcheck disable=SC2086 # SERVER_ARGS is a list of flags
    "$PARLEYD" --listen 127.0.0.1:0 --db "$work/p.db" --key "$work/server.key" \
        --cert "$work/server.cert" $SERVER_ARGS "$@" 2>"$log" &
    SRV_PID=$!
    pids="$pids $SRV_PID"
    # With --processes, the line that says how many processes listen.
    case " $* " in
    *" --processes "*) PORT=$(bench_port "$log" '[0-9]* process') ;;
    *) PORT=$(bench_port "$log") ;;
    esac
    [ -n "$PORT" ] || { echo "bench_server: parleyd did not start" >&2; cat "$log" >&2; exit 1; }
}

stop_server() {
    kill -TERM "$SRV_PID"
    wait "$SRV_PID" || true
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# wait_for FILE PATTERN SECONDS
wait_for() {
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -le $(($3 * 10)) ] || { echo "bench_server: timed out waiting for '$2'" >&2; cat "$1" >&2; exit 1; }
        sleep 0.1
    done
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

has_phase() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }

if has_phase idle; then
echo "== idle connections: $IDLE to one parleyd process (1 worker)"
start_server "$work/idle.log" --workers 1
base=$(rss_kib "$SRV_PID")
c0=$(cpu_ticks "$SRV_PID")
"$LOAD" run --connect 127.0.0.1:"$PORT" --root "$root" --conns "$IDLE" --sources 8 --hold 120 \
    >"$work/load.out" 2>&1 &
lp=$!
pids="$pids $lp"
wait_for "$work/load.out" "^holding" 120
c1=$(cpu_ticks "$SRV_PID")
# Two idle sweeps (SRV_TRIM_INTERVAL_S = 5) give the buffers back.
sleep 12
rss=$(rss_kib "$SRV_PID")
kill "$lp"
wait "$lp" 2>/dev/null || true
stop_server
logins=$(sed -n 's/^logins: \([0-9]*\) ok.*/\1/p' "$work/load.out")
lps=$(sed -n 's/.*: \([0-9]*\) logins\/s$/\1/p' "$work/load.out")
cpu_s=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')
per_cpu=$(awk -v n="$logins" -v s="$cpu_s" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
per_conn=$(( (rss - base) * 1024 / IDLE ))
echo "  connections: $logins authenticated"
echo "  server RSS: $base KiB empty, $rss KiB with them: $per_conn bytes per idle connection"
echo "    target <= 8192 bytes: ratio $(ratio "$per_conn" 8192); ejabberd 53 KiB: $(ratio 54272 "$per_conn")x less; Prosody 36 KiB: $(ratio 36864 "$per_conn")x less"
echo "  logins: $lps/s wall clock (one load process); $per_cpu per second of server CPU ($cpu_s s)"
echo "    target >= 4000 per core: ratio $(ratio "$per_cpu" 4000); ejabberd 390/s: $(ratio "$per_cpu" 390)x; Prosody 99/s: $(ratio "$per_cpu" 99)x"

fi

if has_phase procs; then
echo "== several processes: --processes $PROCS, $IDLE connections each"
start_server "$work/procs.log" --workers 1 --processes "$PROCS"
sleep 0.5
kids=$(pgrep -P "$SRV_PID" | tr '\n' ' ')
bases=""
for k in $kids; do bases="$bases $(rss_kib "$k")"; done
lpids=""
i=0
while [ $i -lt "$PROCS" ]; do
    "$LOAD" run --connect 127.0.0.1:"$PORT" --root "$root" --conns "$IDLE" \
        --first $((i * IDLE)) --sources 8 --hold 180 >"$work/load$i.out" 2>&1 &
    lpids="$lpids $!"
    pids="$pids $!"
    i=$((i + 1))
done
i=0
while [ $i -lt "$PROCS" ]; do
    wait_for "$work/load$i.out" "^holding" 180
    i=$((i + 1))
done
sleep 12
total=0
ok=0
line="  server RSS (KiB):"
fds="  open descriptors:"
set -- $bases
for k in $kids; do
    r=$(rss_kib "$k")
    line="$line $1->$r"
    fds="$fds $(ls "/proc/$k/fd" | wc -l)"
    total=$((total + r - $1))
    shift
done
for i in $(seq 0 $((PROCS - 1))); do
    n=$(sed -n 's/^logins: \([0-9]*\) ok.*/\1/p' "$work/load$i.out")
    ok=$((ok + n))
done
for p in $lpids; do kill "$p"; wait "$p" 2>/dev/null || true; done
stop_server
echo "  connections: $ok authenticated over $PROCS processes"
echo "$line"
echo "$fds"
echo "  $(( total * 1024 / (ok > 0 ? ok : 1) )) bytes per idle connection over all processes"
fi

# fresh_run NAME SYNC RATE FIRST [WARMUP]: one load run on a fresh server.
fresh_run() {
    start_server "$work/$1-fresh.log" --workers "$MSG_WORKERS" --sync "$2" $PHASE_ARGS
    "$LOAD" run --connect 127.0.0.1:"$PORT" --root "$root" --conns "$MSG_CONNS" \
        --first "$4" --rate "$3" --duration "$MSG_SECONDS" --warmup "${5:-0}" >"$work/$1" 2>&1
    stop_server
}

# msg_phase NAME SYNC FIRST TARGET: step the offered rate up while the
# server keeps up (delivered >= 90% of offered, p99 under a second); the
# best delivered rate is the figure, then half of it is run again for
# p50/p99, and half of the target rate REPEAT times.
msg_phase() {
    name=$1
    sync=$2
    first=$3
    target=$4
    echo "== messages, $name (--sync $sync, $MSG_WORKERS worker(s), $MSG_CONNS connections in pairs)"
    start_server "$work/$name.log" --workers "$MSG_WORKERS" --sync "$sync" $PHASE_ARGS
    best=0
    for rate in $RATES; do
        "$LOAD" run --connect 127.0.0.1:"$PORT" --root "$root" --conns "$MSG_CONNS" \
            --first "$first" --rate "$rate" --duration "$MSG_SECONDS" >"$work/$name.$rate" 2>&1 &
        lp=$!
        pids="$pids $lp"
        # Server CPU over the traffic only (the logins come first).
        wait_for "$work/$name.$rate" "^logins" 60
        c0=$(cpu_ticks "$SRV_PID")
        wait "$lp" || true
        c1=$(cpu_ticks "$SRV_PID")
        first=$((first + MSG_CONNS))
        got=$(sed -n 's/.*delivered \([0-9]*\)\/s.*/\1/p' "$work/$name.$rate")
        p99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' "$work/$name.$rate")
        n=$(sed -n 's/.*(\([0-9]*\) samples.*/\1/p' "$work/$name.$rate")
        us=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="${n:-0}" 'BEGIN { printf "%.0f", (n > 0 ? t / hz * 1e6 / n : 0) }')
        echo "  $(grep '^messages' "$work/$name.$rate" | sed 's/^messages: //'); server CPU ${us} us/msg"
        [ -n "$got" ] || break
        [ "$got" -gt "$best" ] && best=$got
        kept=$(awk -v g="$got" -v r="$rate" -v p="$p99" 'BEGIN { print (g >= 0.9 * r && p < 1000) ? 1 : 0 }')
        [ "$kept" = 1 ] || break
    done
    stop_server
    half=$((best / 2))
    [ "$half" -gt 0 ] || half=1
    fresh_run "$name.cold" "$sync" "$half" "$first"
    fresh_run "$name.half" "$sync" "$half" $((first + MSG_CONNS)) "$WARMUP"
    echo "  most delivered: $best/s; at half of it, from a cold start: $(grep '^messages' "$work/$name.cold" | sed 's/^messages: //')"
    echo "  at half of it, after a ${WARMUP} s warm-up: $(grep '^messages' "$work/$name.half" | sed 's/^messages: //')"
    # Half the target, REPEAT times on fresh servers and accounts: one
    # run's p99 is a few stalls more or less, so the figure is the median.
    p99s=""
    k=0
    while [ $k -lt "$REPEAT" ]; do
        fresh_run "$name.target$k" "$sync" $((target / 2)) $((first + (2 + k) * MSG_CONNS)) "$WARMUP"
        echo "  at half the target, after a ${WARMUP} s warm-up, run $((k + 1)) of $REPEAT: $(grep '^messages' "$work/$name.target$k" | sed 's/^messages: //')"
        p99s="$p99s $(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' "$work/$name.target$k")"
        k=$((k + 1))
    done
    MSG_GOT=$best
    MSG_P99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' "$work/$name.half")
    MSG_P99_RUNS=$(echo $p99s | tr ' ' ',')
    MSG_P99_TARGET=$(echo $p99s | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
}

nrates=$(echo "$RATES" | wc -w)
# Online: as configured by default, a copy its device acks within
# delivery_hold_ms is never written. Durable: --delivery-hold-ms 0, every
# copy goes through the queue, fsynced, before the sender is acked.
PHASE_ARGS=""
if has_phase online; then
    msg_phase online normal $((IDLE * PROCS)) 50000
    echo "    target >= 50000/s: ratio $(ratio "$MSG_GOT" 50000); p99 (target < 5 ms) at half rate (warm) $MSG_P99 ms: ratio $(ratio "$MSG_P99" 5), at 25000/s $MSG_P99_TARGET ms (median of $MSG_P99_RUNS): ratio $(ratio "$MSG_P99_TARGET" 5)"
    echo "    ejabberd 3700/s: $(ratio "$MSG_GOT" 3700)x; Prosody 1000/s: $(ratio "$MSG_GOT" 1000)x"
fi
if has_phase durable; then
    # A reference parleyd from before the hold writes every copy anyway.
    if "$PARLEYD" --help 2>&1 | grep -q -- --delivery-hold-ms; then
        PHASE_ARGS="--delivery-hold-ms 0"
    fi
    msg_phase durable full $((IDLE * PROCS + (nrates + 2 + REPEAT) * MSG_CONNS)) 20000
    echo "    target >= 20000/s: ratio $(ratio "$MSG_GOT" 20000); p99 (target < 5 ms) at half rate (warm) $MSG_P99 ms: ratio $(ratio "$MSG_P99" 5), at 10000/s $MSG_P99_TARGET ms (median of $MSG_P99_RUNS): ratio $(ratio "$MSG_P99_TARGET" 5)"
fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
# What a system call and a loopback frame cost here (tests/bench/bench_machine.c):
# the floor under every figure above.
[ -x "$build/bench/bench_machine" ] && "$build/bench/bench_machine"
exit 0
