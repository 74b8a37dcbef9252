#!/bin/sh
# Builds every libFuzzer harness with clang and runs each one briefly over
# its committed corpus. FUZZ_SECONDS sets the time per harness (default 20).
set -eu
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-20}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_FUZZ=ON \
    -DPARLEY_SANITIZE=ON -DPARLEY_INTEROP=OFF >/dev/null
for d in tests/fuzz/corpus/*/; do
    name=$(basename "$d")
    cmake --build build-fuzz -j "$(nproc)" --target "$name" >/dev/null
done
status=0
for d in tests/fuzz/corpus/*/; do
    name=$(basename "$d")
    work=$(mktemp -d)
    cp "$d"/* "$work"/ 2>/dev/null || true
    echo "fuzz: $name for ${secs}s"
    if ! "build-fuzz/tests/$name" -max_total_time="$secs" -max_len=70000 "$work" \
        >"build-fuzz/$name.log" 2>&1; then
        echo "fuzz: $name FAILED, see build-fuzz/$name.log"
        status=1
    fi
    rm -rf "$work"
done
exit $status
