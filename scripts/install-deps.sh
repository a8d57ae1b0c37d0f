#!/usr/bin/env bash
# Installs every build, test and demo dependency of Tesseras from Debian 12's
# package archive. Idempotent: packages already installed are skipped, and apt
# is not touched at all when nothing is missing. Nothing is downloaded at build
# time; CMake only finds what this script installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  clang clang-format libclang-rt-14-dev
  libisal-dev            # Reed-Solomon (Intel ISA-L)
  librust-blake3-dev     # BLAKE3's official C sources (built by CMake)
  b3sum                  # reference BLAKE3 tool, used by the tests
  libsodium-dev          # Ed25519
  libssl-dev             # TLS 1.3
  libboost1.81-dev       # Asio, Beast
  libsqlite3-dev
  libprotobuf-dev protobuf-compiler
  libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  curl procps psmisc jq
  python3                 # bench/*.py, sim/plot_days.py
  # the dashboard's browser test: Debian's Chromium, its driver, Selenium for
  # Debian's /usr/bin/python3
  chromium chromium-driver python3-selenium
  # the Debian package and its checks (scripts/package.sh, packaging/check-package.sh)
  dpkg-dev lintian help2man man-db bash-completion strace systemd
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
