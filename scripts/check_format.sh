#!/usr/bin/env bash
# Fails if a C++ file differs from .clang-format's output. `scripts/check_format.sh --fix`
# reformats in place.
set -uo pipefail
cd "$(dirname "$0")/.."
CF=$(command -v clang-format || command -v clang-format-14 || true)
if [ -z "$CF" ]; then
  echo "format: clang-format not installed (scripts/setup.sh installs it)"; exit 1
fi
files=$(git ls-files '*.h' '*.cc' 2>/dev/null || find . -name '*.h' -o -name '*.cc')
[ -z "$files" ] && { echo "format: ok"; exit 0; }
if [ "${1:-}" = "--fix" ]; then
  echo "$files" | xargs "$CF" -i
  exit 0
fi
bad=""
for f in $files; do
  if ! "$CF" --dry-run --Werror "$f" >/dev/null 2>&1; then bad="$bad $f"; fi
done
if [ -n "$bad" ]; then
  echo "format: these files differ from .clang-format (run scripts/check_format.sh --fix):"
  for f in $bad; do echo "  $f"; done
  exit 1
fi
echo "format: ok"
