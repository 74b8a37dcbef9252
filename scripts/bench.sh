#!/bin/sh
# Runs every benchmark program (build/bench/bench_*) in turn. Each prints
# its figures as ratios against a reference measured in the same run.
set -eu
build=${1:-build}
for b in "$build"/bench/bench_*; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b"
done
