#!/bin/sh
# make demo: the gatekeeper network on this machine (scripts/demo_network.py):
# parleyd on 127.0.0.1, accounts made with parleyctl, parley clients that
# register, link a second device, talk end to end with fan-out to every
# device, get what was queued while they were away, and compare safety
# numbers; then a third-party provider (parley-provider) on the same
# gatekeeper: its user registers through it, is refused until a gatekeeper
# user opts in, chats both ways, and is cut off while the operator suspends
# the provider. Everything it starts is stopped, and its directory removed.
#
#   scripts/demo.sh [BUILD] [--keep]    the network demo (BUILD defaults to
#                                       build; --keep leaves its directory)
#   scripts/demo.sh --signal [BUILD]    the Signal core alone: two parley-peer
#                                       processes, no server (demo_signal.py)
set -eu
here=$(dirname "$0")
if [ "${1:-}" = "--signal" ]; then
    shift
    exec python3 "$here/demo_signal.py" "${1:-build}/tools/peer/parley-peer"
fi
build=build
case "${1:-}" in
"" | --*) ;;
*) build=$1; shift ;;
esac
exec python3 "$here/demo_network.py" "$build" "$@"
