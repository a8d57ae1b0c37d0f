#!/usr/bin/env bash
# Replication benchmark across 12 local tesd processes (127.0.N.1):
#   - publish and restore of 64 MiB and 256 MiB tesseras, next to the time to
#     write the same bytes to disk with fsync (dd conv=fsync) in the same run;
#   - peak resident memory (VmHWM) of the owner and of one holder while a
#     1 GiB tessera is published and restored (target: under 128 MiB each).
# Prints a table and the figures as JSON on the last line.
#
#   bench/replication_bench.sh [--no-gib] [--dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${TESSERAS_BUILD_DIR:-build/release}/src"
TESD="$BIN/daemon/tesd"; TES="$BIN/cli/tes"
[ -x "$TESD" ] && [ -x "$TES" ] || { echo "build first: scripts/build.sh release tesd tes" >&2; exit 2; }
GIB=1; BASE=""
while [ $# -gt 0 ]; do
  case "$1" in --no-gib) GIB=0 ;; --dir) BASE="$2"; shift ;; *) echo "bad argument $1" >&2; exit 2 ;; esac
  shift
done
[ -n "$BASE" ] || BASE=$(mktemp -d /tmp/tesseras-rbench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$BASE"; }
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
tes() { local n=$1; shift; "$TES" --data-dir "$BASE/n$n" "$@"; }
hwm() { awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$1/status"; }

printf '[replication]\nmin_free_space_bytes = 268435456\n[api]\nhttp_listen = ""\n' > "$BASE/b.toml"
N=12
for n in $(seq 1 $N); do
  args=(--data-dir "$BASE/n$n" --listen "127.0.$n.1:7700" --config "$BASE/b.toml" --log-level warn)
  [ "$n" -gt 1 ] && args+=(--bootstrap 127.0.1.1:7700)
  "$TESD" "${args[@]}" 2> "$BASE/n$n.log" &
  PIDS[$n]=$!
  for _ in $(seq 1 200); do
    [ -S "$BASE/n$n/tesd.sock" ] && tes "$n" node >/dev/null 2>&1 && break
    kill -0 "${PIDS[$n]}" 2>/dev/null || { echo "node $n failed:" >&2; cat "$BASE/n$n.log" >&2; exit 1; }
    sleep 0.05
  done
done
for _ in $(seq 1 100); do [ "$(tes 1 --json peers | jq length)" -ge $((N - 1)) ] && break; sleep 0.2; done

RESULTS="[]"
row() { printf '| %-34s | %10s | %10s | %6s |\n' "$@"; }
echo "| what                               |   time (s) | baseline s |  ratio |"
echo "|---|---|---|---|"
for mib in 64 256; do
  mkdir -p "$BASE/in$mib"
  head -c $((mib * 1024 * 1024)) /dev/urandom > "$BASE/in$mib/data.bin"
  t=$(now); dd if="$BASE/in$mib/data.bin" of="$BASE/dd.out" bs=4M conv=fsync status=none; base=$(since "$t"); rm -f "$BASE/dd.out"
  hash=$(tes 1 --json create "$BASE/in$mib" | jq -r .hash)
  t=$(now); tes 1 --json publish "$hash" > /dev/null; pub=$(since "$t")
  t=$(now); tes 12 --json fetch "$hash" --out "$BASE/out$mib" > /dev/null; res=$(since "$t")
  cmp -s "$BASE/in$mib/data.bin" "$BASE/out$mib/in$mib/data.bin" || { echo "restore of $mib MiB differs" >&2; exit 1; }
  row "publish $mib MiB (12 nodes)" "$pub" "$base" "$(awk -v a="$pub" -v b="$base" 'BEGIN{printf "%.2f", a/b}')"
  row "restore $mib MiB on another node" "$res" "$base" "$(awk -v a="$res" -v b="$base" 'BEGIN{printf "%.2f", a/b}')"
  RESULTS=$(echo "$RESULTS" | jq -c --arg m "$mib" --arg p "$pub" --arg r "$res" --arg b "$base" \
    '. + [{mib: ($m|tonumber), publish_s: ($p|tonumber), restore_s: ($r|tonumber), write_fsync_s: ($b|tonumber)}]')
  rm -rf "$BASE/in$mib" "$BASE/out$mib"
done

MEM="{}"
if [ "$GIB" = 1 ]; then
  mkdir -p "$BASE/gib"
  # 1 GiB minus room for the bundle's manifest and signature.
  head -c $((1024 * 1024 * 1024 - 4096)) /dev/urandom > "$BASE/gib/data.bin"
  idle_owner=$(hwm "${PIDS[1]}")
  hash=$(tes 1 --json create "$BASE/gib" | jq -r .hash)
  tes 1 --json publish "$hash" > /dev/null
  holder=$(tes 1 --json status "$hash" | jq -r '.holders[0].addr' | sed 's/^127\.0\.\([0-9]*\)\.1:.*/\1/')
  rm -rf "$BASE/gib"  # keep the disk light: the payload lives in node 1's blob store
  tes 12 --json fetch "$hash" --out "$BASE/gib-out" > /dev/null
  owner_mib=$(hwm "${PIDS[1]}"); holder_mib=$(hwm "${PIDS[$holder]}"); restorer_mib=$(hwm "${PIDS[12]}")
  row "peak RSS owner, 1 GiB (MiB)" "$owner_mib" "" ""
  row "peak RSS holder node $holder (MiB)" "$holder_mib" "" ""
  row "peak RSS restorer node 12 (MiB)" "$restorer_mib" "" ""
  MEM=$(jq -cn --arg o "$owner_mib" --arg h "$holder_mib" --arg r "$restorer_mib" --arg i "$idle_owner" \
    '{owner_peak_mib: ($o|tonumber), holder_peak_mib: ($h|tonumber), restorer_peak_mib: ($r|tonumber), owner_before_mib: ($i|tonumber)}')
fi
jq -cn --argjson r "$RESULTS" --argjson m "$MEM" '{runs: $r, memory: $m}'
