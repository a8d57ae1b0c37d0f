#!/usr/bin/env bash
# Checks a tesseras .deb without installing it on this machine:
#   1. lintian reports no error;
#   2. its contents: binaries, unit, sysusers, man pages, completion, config;
#   3. dpkg -x into a scratch root; systemd-analyze verify --root on the unit
#      (the root gets this machine's base units, e.g. sysinit.target, which
#      every service depends on); systemd-analyze security rates it;
#   4. systemd-sysusers --root creates the tesseras user in the scratch root;
#   5. the extracted tesd, started with the packaged config (on loopback), is a
#      running node whose tes node answers and which stops cleanly on SIGTERM;
#      traced with strace, every system call it made (start, API requests,
#      a tessera created, shutdown; no peer traffic, which needs a network) is
#      one the unit's SystemCallFilter allows;
#   6. the bash completion offers exactly the commands of tes --help.
# This container runs no systemd, so the unit is not started here: steps 3 and
# 5 are what can be checked honestly without it.
#
#   packaging/check-package.sh PATH.deb
set -euo pipefail
DEB="$1"
[ -f "$DEB" ] || { echo "check-package: no such file $DEB" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tesseras-check.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "check-package: FAIL: $*" >&2; exit 1; }
pass() { echo "check-package: ok: $*"; }

# 1. lintian: no errors (warnings and notes are printed, not fatal).
lintian --allow-root --fail-on error --display-info --tag-display-limit 0 "$DEB" > "$WORK/lintian.txt" 2>&1 \
  || { cat "$WORK/lintian.txt"; fail "lintian reports errors"; }
if [ -s "$WORK/lintian.txt" ]; then
  echo "check-package: lintian (warnings/notes, not errors):"
  sed 's/^/  /' "$WORK/lintian.txt"
fi
pass "lintian reports no error"

# 2. Contents.
dpkg-deb --contents "$DEB" | awk '{print $6}' > "$WORK/contents.txt"
for f in ./usr/bin/tesd ./usr/bin/tes ./lib/systemd/system/tesd.service \
         ./usr/lib/sysusers.d/tesseras.conf ./usr/share/man/man1/tes.1.gz \
         ./usr/share/man/man8/tesd.8.gz ./usr/share/bash-completion/completions/tes \
         ./etc/tesseras/tesd.toml ./etc/default/tesd ./usr/share/doc/tesseras/copyright \
         ./usr/share/doc/tesseras/examples/grafana-dashboard.json; do
  grep -qx "$f" "$WORK/contents.txt" || fail "$f is not in the package"
done
dpkg-deb --field "$DEB" Depends | grep -q "libsodium" || fail "Depends lacks the shared libraries"
[ "$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)" = "$(printf '/etc/default/tesd\n/etc/tesseras/tesd.toml')" ] \
  || fail "conffiles"
pass "contents, Depends and conffiles"

# 3. The unit, in a scratch root.
ROOT="$WORK/root"
dpkg -x "$DEB" "$ROOT"
cp -rn /lib/systemd/system/. "$ROOT/lib/systemd/system/"
# MANPATH: the unit's Documentation= must name the package's own man pages.
if ! MANPATH="$ROOT/usr/share/man" systemd-analyze verify --root="$ROOT" \
       /lib/systemd/system/tesd.service > "$WORK/verify.txt" 2>&1 \
   || [ -s "$WORK/verify.txt" ]; then
  cat "$WORK/verify.txt"
  fail "systemd-analyze verify reports problems with tesd.service"
fi
pass "systemd-analyze verify: no warning, no error (man pages of Documentation= found)"
systemd-analyze security --offline=true --root="$ROOT" tesd.service > "$WORK/security.txt" 2>&1 || true
EXPOSURE=$(sed -n 's/.*Overall exposure level for tesd.service: \([0-9.]*\).*/\1/p' "$WORK/security.txt")
[ -n "$EXPOSURE" ] || { cat "$WORK/security.txt"; fail "systemd-analyze security gave no rating"; }
awk -v e="$EXPOSURE" 'BEGIN { exit !(e <= 2.0) }' \
  || { grep '✗' "$WORK/security.txt"; fail "exposure $EXPOSURE is above 2.0"; }
pass "systemd-analyze security: exposure $EXPOSURE (0 safest, 10 unsafe; 2.0 at most accepted)"

# 4. The system user.
mkdir -p "$ROOT/etc"
systemd-sysusers --root="$ROOT" >/dev/null 2>&1 || fail "systemd-sysusers --root failed"
grep -q '^tesseras:x:[0-9]*:[0-9]*:Tesseras node daemon:/var/lib/tesseras:/usr/sbin/nologin$' \
  "$ROOT/etc/passwd" || fail "no tesseras user in $ROOT/etc/passwd"
pass "systemd-sysusers creates the tesseras user"

# 5. The extracted binaries run as the unit runs them (but on loopback).
TESD="$ROOT/usr/bin/tesd"
TES="$ROOT/usr/bin/tes"
"$TESD" --version | grep -qx "tesd [0-9.]*" || fail "tesd --version"
"$TES" --version | grep -qx "tes [0-9.]*" || fail "tes --version"
# As the unit does: an unprivileged user (nobody here) with its own 0700
# state directory; run as root, SQLite would chown its files.
DATA="$WORK/state"
chmod 0711 "$WORK"
install -d -m 0700 -o nobody -g nogroup "$DATA"
command -v strace >/dev/null || fail "strace is missing (scripts/install-deps.sh)"
TRACE="$WORK/strace"
strace -f -qq -u nobody -o "$TRACE" "$TESD" --data-dir "$DATA" \
  --config "$ROOT/etc/tesseras/tesd.toml" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  2> "$WORK/tesd.log" &
PID=$!
PIDS+=("$PID")
for _ in $(seq 1 200); do
  grep -q " ready " "$WORK/tesd.log" && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/tesd.log"; fail "tesd did not start"; }
  sleep 0.05  # polling the log for the ready line
done
grep -q " ready " "$WORK/tesd.log" || { cat "$WORK/tesd.log"; fail "tesd did not become ready"; }
"$TES" --data-dir "$DATA" --json node | grep -q '"node_id"' || fail "tes node did not answer"
"$TES" --data-dir "$DATA" --json ui --no-open | grep -q '#token=' || fail "tes ui"
# Some disk work too: a tessera made (blob store, database, fsync, rename).
mkdir -m 0755 "$WORK/letters"
echo "A letter written to outlive us." > "$WORK/letters/one.txt"
chmod 0644 "$WORK/letters/one.txt"
"$TES" --data-dir "$DATA" --json create "$WORK/letters" | grep -q '"hash"' || fail "tes create"
"$TES" --data-dir "$DATA" --json list | grep -q '"local"' || fail "tes list"
# The daemon's own pid is in its lock file ($PID may be strace's).
kill -TERM "$(cat "$DATA/tesd.lock")"
wait "$PID" || fail "tesd did not exit 0 on SIGTERM: $(tail -3 "$WORK/tesd.log")"
PIDS=()
pass "the packaged tesd runs with the packaged config as an unprivileged user, tes node answers, a tessera is made, SIGTERM exits 0"

{
  # The calls tesd made, against what SystemCallFilter= in the unit allows.
  sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p' "$TRACE" | sort -u > "$WORK/used.txt"
  # Groups name other groups: expand them all.
  systemd-analyze syscall-filter > "$WORK/groups.txt" 2>/dev/null
  groups() {
    awk -v want="$*" '
      /^@/ { g = $1; next }
      /^ +#/ || /^$/ { next }
      /^ +/ { members[g] = members[g] " " $1 }
      function expand(name,   parts, n, i) {
        if (name in seen) return
        seen[name] = 1
        n = split(members[name], parts, " ")
        for (i = 1; i <= n; i++) {
          if (parts[i] ~ /^@/) expand(parts[i]); else calls[parts[i]] = 1
        }
      }
      END { n = split(want, w, " "); for (i = 1; i <= n; i++) expand(w[i]); for (c in calls) print c }
    ' "$WORK/groups.txt" | sort -u
  }
  groups @system-service > "$WORK/allowed.txt"
  groups @privileged @resources > "$WORK/denied.txt"
  comm -23 "$WORK/allowed.txt" "$WORK/denied.txt" > "$WORK/filter.txt"
  # execve is tesd being started (before the filter applies, systemd execs it).
  OUTSIDE=$(comm -23 "$WORK/used.txt" "$WORK/filter.txt" | grep -vx execve || true)
  [ -z "$OUTSIDE" ] || fail "tesd made system calls tesd.service forbids: $(echo $OUTSIDE)"
  pass "every one of the $(wc -l < "$WORK/used.txt") system calls tesd made is allowed by the unit's filter"
}

# 6. Bash completion.
HELP_COMMANDS=$("$TES" --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && NF { print $1 }' | sort | tr '\n' ' ')
COMPLETED=$(bash -c "source /usr/share/bash-completion/bash_completion; source '$ROOT/usr/share/bash-completion/completions/tes';
  COMP_WORDS=(tes ''); COMP_CWORD=1; COMP_LINE='tes '; COMP_POINT=4; _tes; printf '%s\n' \"\${COMPREPLY[@]}\"" \
  | grep -v '^-' | sort | tr '\n' ' ')
[ "$HELP_COMMANDS" = "$COMPLETED" ] || fail "completion offers '$COMPLETED', tes --help lists '$HELP_COMMANDS'"
pass "bash completion offers the commands of tes --help"
echo "check-package: $DEB passed"
