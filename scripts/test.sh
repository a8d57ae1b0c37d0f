#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test.
#   scripts/test.sh            debug build, whole suite
#   scripts/test.sh --asan     the same under AddressSanitizer + UBSan
set -euo pipefail
cd "$(dirname "$0")/.."

flavour=debug
if [ "${1:-}" = "--asan" ]; then flavour=asan; fi

./scripts/install-deps.sh
./scripts/build.sh "$flavour"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir "build/$flavour" --output-on-failure -j "${TESSERAS_JOBS:-2}" --timeout 600
