#!/usr/bin/env bash
# Configures and builds one flavour of Tesseras.
#   scripts/build.sh [debug|release|asan|clang|package] [ninja targets...]
# Build trees: build/<flavour>.
#   debug     g++, -O0 -g, assertions on
#   release   g++, -O3 (the benchmarks' build)
#   asan      clang 14, -O0 -g, assertions on, -fsanitize=address,undefined:
#             the whole tree, benchmarks included, so that it is also the
#             build that shows the tree compiles without warnings with clang
#   clang     clang 14, -O3
#   package   g++ with Debian's flags (dpkg-buildflags: -O2, stack protector,
#             _FORTIFY_SOURCE, full RELRO, PIE), assertions off: what
#             scripts/package.sh puts in the .deb
set -euo pipefail
cd "$(dirname "$0")/.."

flavour="${1:-debug}"
shift || true
case "$flavour" in
  debug)   args=(-DCMAKE_BUILD_TYPE=Debug) ;;
  release) args=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan)    args=(-DCMAKE_BUILD_TYPE=Debug -DTESSERAS_SANITIZE=ON
                 -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  clang)   args=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  package)
    # Debian's own optimisation level (-O2) instead of the build type's -O3;
    # -g is left out (the packaged binaries are stripped).
    flags() { dpkg-buildflags --get "$1" | tr ' ' '\n' | grep -v -e '^-g$' -e '^-ffile-prefix-map' | tr '\n' ' '; }
    export DEB_BUILD_MAINT_OPTIONS="hardening=+all"
    # g++ 12 at -O2 reports Boost.Asio's coroutine frames as freed by a
    # mismatched operator delete (a false positive: the frame's own operator
    # new and delete are a pair); ASan's alloc-dealloc-mismatch check in the
    # sanitizer suite still catches the real thing.
    cppflags=$(flags CPPFLAGS)
    args=(-DCMAKE_BUILD_TYPE=Release
          -DCMAKE_C_FLAGS_RELEASE=-DNDEBUG -DCMAKE_CXX_FLAGS_RELEASE=-DNDEBUG
          "-DCMAKE_C_FLAGS=$(flags CFLAGS) $cppflags"
          "-DCMAKE_CXX_FLAGS=$(flags CXXFLAGS) $cppflags -Wno-mismatched-new-delete"
          "-DCMAKE_EXE_LINKER_FLAGS=$(flags LDFLAGS)"
          "-DCMAKE_SHARED_LINKER_FLAGS=$(flags LDFLAGS)") ;;
  *) echo "usage: scripts/build.sh [debug|release|asan|clang|package] [targets...]" >&2; exit 2 ;;
esac

dir="build/$flavour"
cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
# Two cores, 24 GiB: two compile jobs keep both busy without thrashing.
ninja -C "$dir" -j "${TESSERAS_JOBS:-2}" "$@"
