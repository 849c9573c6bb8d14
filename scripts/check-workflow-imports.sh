#!/usr/bin/env bash
# Workflow code must stay deterministic: at run time it may import only
# @temporalio/workflow, other workflow files and the pure domain modules (types.ts, events.ts, suppression.ts); activities and
# everything else only as types (`import type`). Fails listing the offending imports.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(perl -0777 -ne 'while (/^import\s+(?!type\b)[^;]*?from\s+["\x27]([^"\x27]+)["\x27]/mg) { print "$ARGV: $1\n" }' \
  $(ls src/workflows/*.ts | grep -v '\.spec\.ts$') |
  grep -vE ": (@temporalio/workflow|\./[^/]+\.ts|\.\./domain/(types|events|suppression)\.ts)$" || true)
if [ -n "$bad" ]; then
  echo "workflow files may import at run time only @temporalio/workflow, each other and the pure ../domain/types.ts, events.ts and suppression.ts:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "workflow imports: ok"
