#!/bin/sh
# make bench: runs every benchmark program (BUILD/bench/bench_*) in turn.
# Each prints its figures as ratios against a reference measured in the
# same run. Benchmarks that also take instruction counts have a script of
# their own beside their source, which runs instead of the bare program.
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
for b in "$build"/bench/bench_*; do
    [ -x "$b" ] || continue
    name=$(basename "$b")
    echo "== $name"
    script=$(find "$here/tests" -name "$name.sh" | head -n 1)
    if [ -n "$script" ]; then
        sh "$script" "$build"
    else
        "$b"
    fi
done
# Benchmarks that are scripts alone (no program of their own): they drive
# programs of the build, e.g. bench_server.sh runs parleyd and parley-load.
for script in "$here"/tests/bench/bench_*.sh; do
    [ -f "$script" ] || continue
    name=$(basename "$script" .sh)
    [ -x "$build/bench/$name" ] && continue
    echo "== $name"
    sh "$script" "$build"
done
