#!/usr/bin/env bash
# The local network demo: 14 tesd daemons on loopback (127.0.1.1 … 127.0.12.1,
# one /24 each, plus 127.0.13.1 and 127.0.13.2 sharing a /24), driven with tes.
# Creates a Small, a Medium and a Large tessera on node 1, publishes them,
# shows their health, kills a third of the other nodes, repairs, restores every
# tessera on a node that joined afterwards (so never held anything), compares
# the bytes and prints a summary. Every daemon it started is stopped on exit.
#
#   scripts/network-demo.sh [--keep] [--large-mib N] [--dir DIR]
#     --keep        leave the network running (tes commands are printed)
#     --large-mib   size of the Large tessera's file (default 300; >= 256)
set -euo pipefail
cd "$(dirname "$0")/.."

KEEP=0
LARGE_MIB=300
BASE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1 ;;
    --large-mib) LARGE_MIB="$2"; shift ;;
    --dir) BASE="$2"; shift ;;
    *) echo "usage: scripts/network-demo.sh [--keep] [--large-mib N] [--dir DIR]" >&2; exit 2 ;;
  esac
  shift
done

BIN="${TESSERAS_BUILD_DIR:-build/release}/src"
TESD="$BIN/daemon/tesd"
TES="$BIN/cli/tes"
[ -x "$TESD" ] && [ -x "$TES" ] || { echo "build first: scripts/build.sh release tesd tes" >&2; exit 2; }
[ -n "$BASE" ] || BASE=$(mktemp -d /tmp/tesseras-demo.XXXXXX)
mkdir -p "$BASE"
PIDS=()

cleanup() {
  if [ "$KEEP" = 1 ]; then return; fi
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
step() { printf '\n== %s\n' "$*"; }
tes() { local n=$1; shift; "$TES" --data-dir "$BASE/n$n" "$@"; }

cat > "$BASE/demo.toml" <<TOML
[replication]
repair_interval_secs = 86400
min_free_space_bytes = 268435456
# The nodes this demo kills are gone for good: no grace before their copies
# count as lost (a real node waits 72 h, docs/REPLICATION.md "Maintenance").
holder_grace_secs = 0
TOML

ADDR=()
for i in $(seq 1 12); do ADDR[$i]="127.0.$i.1"; done
ADDR[13]="127.0.13.1"; ADDR[14]="127.0.13.2"; ADDR[15]="127.0.20.1"

start_node() {
  local n=$1 boot=${2:-}
  local args=(--data-dir "$BASE/n$n" --listen "${ADDR[$n]}:7700" --config "$BASE/demo.toml" --log-level info)
  [ -n "$boot" ] && args+=(--bootstrap "$boot")
  "$TESD" "${args[@]}" 2> "$BASE/n$n.log" &
  PIDS[$n]=$!
  for _ in $(seq 1 200); do
    grep -q " ready " "$BASE/n$n.log" 2>/dev/null && return 0
    kill -0 "${PIDS[$n]}" 2>/dev/null || { echo "node $n failed to start:"; tail -5 "$BASE/n$n.log"; exit 1; }
    sleep 0.05
  done
  echo "node $n did not become ready"; exit 1
}

T0=$(now)
step "starting 14 daemons in $BASE"
start_node 1
for n in $(seq 2 14); do start_node "$n" "${ADDR[1]}:7700"; done
for _ in $(seq 1 100); do
  [ "$(tes 1 --json peers | jq length)" -ge 13 ] && break
  sleep 0.2
done
echo "node 1 knows $(tes 1 --json peers | jq length) peers"

step "creating tesseras on node 1"
mkdir -p "$BASE/in/small/letters" "$BASE/in/medium" "$BASE/in/large"
for i in 1 2 3; do echo "A letter, number $i, written to outlive us." > "$BASE/in/small/letters/letter$i.txt"; done
head -c 200000 /dev/urandom > "$BASE/in/small/photo.jpg"
head -c $((20 * 1024 * 1024)) /dev/urandom > "$BASE/in/medium/video.mp4"
head -c $((LARGE_MIB * 1024 * 1024)) /dev/urandom > "$BASE/in/large/archive.tar"
declare -A HASH
for t in small medium large; do
  t1=$(now)
  HASH[$t]=$(tes 1 --json create "$BASE/in/$t" | jq -r .hash)
  echo "$t: ${HASH[$t]} ($(since "$t1") s)"
done

step "publishing"
for t in small medium large; do
  t1=$(now)
  out=$(tes 1 --json publish "${HASH[$t]}")
  echo "$t: $(echo "$out" | jq -c '{tier, fragments, holders}') in $(since "$t1") s"
done

step "health"
for t in small medium large; do tes 1 status "${HASH[$t]}" | head -3; done

step "killing a third of the other nodes (2, 3, 4, 5)"
for n in 2 3 4 5; do kill "${PIDS[$n]}"; wait "${PIDS[$n]}" 2>/dev/null || true; PIDS[$n]=""; done
for t in small medium large; do
  echo "$t: $(tes 1 --json status "${HASH[$t]}" | jq -c '{state, fragments_verified, fragments_total}')"
done

step "repairing"
t1=$(now)
tes 1 --json repair | jq -c '.tesseras[] | {hash: .hash[0:8], action, regenerated: (.regenerated | length), problems}'
echo "repair took $(since "$t1") s"
for t in small medium large; do
  echo "$t: $(tes 1 --json status "${HASH[$t]}" | jq -c '{state, fragments_verified, fragments_total}')"
done

step "restoring on node 15, which joined after everything was placed"
start_node 15 "${ADDR[1]}:7700"
FAIL=0
for t in small medium large; do
  t1=$(now)
  tes 15 --json fetch "${HASH[$t]}" --out "$BASE/out/$t" | jq -c .
  if diff -r "$BASE/in/$t" "$BASE/out/$t/$t" > /dev/null; then
    echo "$t: restored bit-exactly in $(since "$t1") s"
  else
    echo "$t: RESTORED FILES DIFFER"; FAIL=1
  fi
done

step "summary"
echo "14 daemons, 3 tesseras, 4 nodes killed, repaired, restored on a new node: total $(since "$T0") s"
if [ "$KEEP" = 1 ]; then
  echo "the network keeps running; try: $TES --data-dir $BASE/n1 peers"
  echo "stop it with: kill ${PIDS[*]}"
fi
exit $FAIL
