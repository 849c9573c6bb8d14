#!/usr/bin/env bash
# The production build holds the product only: no mock providers, no tests, no specs.
# Run after `npm run build`; `make e2e` checks the service image the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-dist}
[ -f "$dir/src/main.js" ] || { echo "check-build: $dir/src/main.js missing: run 'npm run build' first" >&2; exit 1; }
bad=$(find "$dir" \( -path '*mock-providers*' -o -path '*/test/*' -o -path '*/e2e/*' -o -name '*.spec.js' \) -print)
if [ -n "$bad" ]; then
  echo "check-build: the production build contains code that is not the product:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "check-build: $dir holds the product only"
