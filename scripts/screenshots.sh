#!/usr/bin/env bash
# Regenerates the dashboard screenshots in docs/screenshots/ by running the
# browser test (tests/dashboard/dashboard_test.py) against a real four-node
# network on loopback, with its --screenshots option.
#   scripts/screenshots.sh [debug|release]    (default: debug)
set -euo pipefail
cd "$(dirname "$0")/.."

flavour="${1:-debug}"
./scripts/install-deps.sh
./scripts/build.sh "$flavour" tesd tes
exec /usr/bin/python3 tests/dashboard/dashboard_test.py \
  --tesd "build/$flavour/src/daemon/tesd" --tes "build/$flavour/src/cli/tes" \
  --screenshots docs/screenshots
