#!/usr/bin/env bash
# Configures and builds one flavour of Tesseras.
#   scripts/build.sh [debug|release|asan|clang|package] [ninja targets...]
# Build trees: build/<flavour>.
#   debug     g++, -O0 -g, assertions on
#   release   g++, -O3 (the benchmarks' build)
#   asan      g++, debug + -fsanitize=address,undefined, no benchmarks
#   clang     clang 14, -O3: the whole tree must build with it too
#   package   g++, -O3 with Debian's hardening flags (dpkg-buildflags: stack
#             protector, _FORTIFY_SOURCE, full RELRO, PIE): what
#             scripts/package.sh puts in the .deb
set -euo pipefail
cd "$(dirname "$0")/.."

flavour="${1:-debug}"
shift || true
case "$flavour" in
  debug)   args=(-DCMAKE_BUILD_TYPE=Debug) ;;
  release) args=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan)    args=(-DCMAKE_BUILD_TYPE=Debug -DTESSERAS_SANITIZE=ON -DTESSERAS_BUILD_BENCH=OFF) ;;
  clang)   args=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  package)
    # -g and -O2 are left out: the build type gives -O3 and the binaries are stripped.
    flags() { dpkg-buildflags --get "$1" | tr ' ' '\n' | grep -v -e '^-g$' -e '^-O2$' -e '^-ffile-prefix-map' | tr '\n' ' '; }
    export DEB_BUILD_MAINT_OPTIONS="hardening=+all"
    cppflags=$(flags CPPFLAGS)
    args=(-DCMAKE_BUILD_TYPE=Release
          "-DCMAKE_C_FLAGS=$(flags CFLAGS) $cppflags"
          "-DCMAKE_CXX_FLAGS=$(flags CXXFLAGS) $cppflags"
          "-DCMAKE_EXE_LINKER_FLAGS=$(flags LDFLAGS)"
          "-DCMAKE_SHARED_LINKER_FLAGS=$(flags LDFLAGS)") ;;
  *) echo "usage: scripts/build.sh [debug|release|asan|clang|package] [targets...]" >&2; exit 2 ;;
esac

dir="build/$flavour"
cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
# Two cores, 24 GiB: two compile jobs keep both busy without thrashing.
ninja -C "$dir" -j "${TESSERAS_JOBS:-2}" "$@"
