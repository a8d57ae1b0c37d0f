#!/usr/bin/env bash
# Fails if any C++ file of the tree differs from what clang-format (with the
# repository's .clang-format) makes of it, and lists those files.
#   scripts/check-format.sh          check
#   scripts/check-format.sh --fix    reformat them in place
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
report=$(clang-format --dry-run --Werror "${files[@]}" 2>&1 >/dev/null) || true
if [ -n "$report" ]; then
  bad=$(printf '%s\n' "$report" | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error:.*/\1/p' | sort -u)
  echo "check-format: files not formatted (scripts/check-format.sh --fix):" >&2
  printf '  %s\n' $bad >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
