#!/usr/bin/env bash
# The main job: installs what is missing, builds (Release) and runs the demo.
# Until the node daemon lands this is the coding demo: a Small, a Medium and a
# Large tessera are encoded into fragment files, as many fragments as the code
# tolerates are deleted, and each is restored and compared bit for bit.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
echo "== building (release) =="
./scripts/build.sh release tesseras-coding-demo
echo "== coding demo =="
./build/release/tools/tesseras-coding-demo "$@"
