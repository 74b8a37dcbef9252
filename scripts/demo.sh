#!/bin/sh
# make demo: what parley can show today. The Signal core between two
# parties (session setup, out-of-order delivery, a restart from disk,
# safety numbers). Grows into the full interop demo as the network lands.
set -eu
build=${1:-build}
exec python3 "$(dirname "$0")/demo_signal.py" "$build/tools/peer/parley-peer"
