#!/usr/bin/env bash
# Configures and builds one flavour of Tesseras.
#   scripts/build.sh [debug|release|asan] [ninja targets...]
# Build trees: build/debug, build/release, build/asan.
set -euo pipefail
cd "$(dirname "$0")/.."

flavour="${1:-debug}"
shift || true
case "$flavour" in
  debug)   args=(-DCMAKE_BUILD_TYPE=Debug) ;;
  release) args=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan)    args=(-DCMAKE_BUILD_TYPE=Debug -DTESSERAS_SANITIZE=ON -DTESSERAS_BUILD_BENCH=OFF) ;;
  *) echo "usage: scripts/build.sh [debug|release|asan] [targets...]" >&2; exit 2 ;;
esac

dir="build/$flavour"
cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
# Two cores, 24 GiB: two compile jobs keep both busy without thrashing.
ninja -C "$dir" -j "${TESSERAS_JOBS:-2}" "$@"
