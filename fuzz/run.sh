#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own directory and runs each
# for a bounded time. Usage: fuzz/run.sh [seconds]   (default 30)
# Environment: FUZZ_BUILD_DIR (default <repo>/build-fuzz), FUZZ_JOBS (default 2).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
seconds="${1:-${FUZZ_SECONDS:-30}}"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
jobs="${FUZZ_JOBS:-2}"

cmake -S "$here" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DTESSERAS_FUZZ=ON
ninja -C "$build" -j "$jobs" frame_fuzzer

# Seed corpus: a few valid frames (hand-encoded protobuf), kept in the build dir.
corpus="$build/corpus/frame"
mkdir -p "$corpus"
target32="$(printf 'a%.0s' $(seq 32))"
# FindNode: version=1, request_id=1, find_node{target=32 bytes}
printf '\x00\x00\x00\x28\x08\x01\x10\x01\x6a\x22\x0a\x20%s' "$target32" > "$corpus/find_node"
# Ping: version=1, request_id=3, ping{}
printf '\x00\x00\x00\x06\x08\x01\x10\x03\x5a\x00' > "$corpus/ping"
# Credit: version=1, request_id=2, credit{chunks=8}
printf '\x00\x00\x00\x09\x08\x01\x10\x02\xd2\x01\x02\x08\x08' > "$corpus/credit"
# Chunk: version=1, request_id=5, chunk{last=true, length=4}, then its 4 data bytes.
printf '\x00\x00\x00\x0b\x08\x01\x10\x05\xca\x01\x04\x18\x01\x20\x04DATA' > "$corpus/chunk"
# AttestRequest: version=1, request_id=7, attest_request{tessera, challenge, indices=[0,1,2]}.
printf '\x00\x00\x00\x50\x08\x01\x10\x07\xaa\x01\x49\x0a\x20%s\x12\x20%s\x1a\x03\x00\x01\x02' \
  "$target32" "$target32" > "$corpus/attest_request"
# Two bodies in one envelope (ping, then find_node): a violation a parser alone misses.
printf '\x00\x00\x00\x2a\x08\x01\x10\x03\x5a\x00\x6a\x22\x0a\x20%s' "$target32" > "$corpus/two_bodies"
# A record (section 8): magic, type 1, key, publisher, expiry, value_length 2, value, signature.
{ printf 'TSR1\x00\x00\x00\x01%s%s' "$target32" "$target32"
  printf '\x00\x00\x01\x90\x00\x00\x00\x00\x00\x00\x00\x02hi%s%s' "$target32" "$target32"; } \
  > "$corpus/record"
# Two frames back to back, and a 4 GiB length prefix.
cat "$corpus/ping" "$corpus/find_node" > "$corpus/two_frames"
printf '\xff\xff\xff\xff' > "$corpus/huge_length"

"$build/frame_fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 "$corpus"
