#!/usr/bin/env bash
# The main job: installs what is missing, builds (Release) and runs the local
# network demo (scripts/network-demo.sh): 14 daemons on loopback, a Small, a
# Medium and a Large tessera created, published, damaged by killing a third of
# the nodes, repaired, and restored bit-exactly on a node that joined later.
#
#   scripts/demo.sh [--keep] [--large-mib N]      (options go to network-demo.sh)
#   scripts/demo.sh --coding [--sizes N,...]      the coding demo (no network)
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
if [ "${1:-}" = "--coding" ]; then
  shift
  echo "== building (release) =="
  ./scripts/build.sh release tesseras-coding-demo
  echo "== coding demo =="
  exec ./build/release/tools/tesseras-coding-demo "$@"
fi
echo "== building tesd and tes (release) =="
./scripts/build.sh release tesd tes
echo "== local network demo =="
exec ./scripts/network-demo.sh "$@"
