#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test.
#   scripts/test.sh             g++ debug build (-O0, assertions on), whole suite
#   scripts/test.sh --asan      the same on the clang debug build under
#                               AddressSanitizer + UBSan (a few tests that
#                               cannot run under the sanitizers' runtimes, or
#                               would take minutes there, skip themselves)
#   scripts/test.sh --package   the same on the build the Debian package is
#                               made from (g++, Debian's flags and hardening)
#   scripts/test.sh --clang     the same on the clang release build
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  "") flavour=debug ;;
  --asan) flavour=asan ;;
  --package) flavour=package ;;
  --clang) flavour=clang ;;
  *) echo "usage: scripts/test.sh [--asan|--package|--clang]" >&2; exit 2 ;;
esac

./scripts/install-deps.sh
./scripts/build.sh "$flavour"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir "build/$flavour" --output-on-failure -j "${TESSERAS_JOBS:-2}" --timeout 600
