#!/usr/bin/env bash
# Workflow code must stay deterministic: at run time it may import only
# @temporalio/workflow, other workflow files and the pure domain modules (types.ts, events.ts, suppression.ts,
# cursors.ts); activities and everything else only as types (`import type`, `export type`). Fails listing the
# offending imports (static, re-exports, bare and dynamic ones).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(ls src/workflows/*.ts | grep -v '\.spec\.ts$')
[ -n "$files" ] || { echo "no workflow files under src/workflows" >&2; exit 1; }
# shellcheck disable=SC2086 # one argument per file
imports=$(perl -0777 -ne '
  while (/^(?:import|export)\s+(?!type\b)[^;]*?from\s+["\x27]([^"\x27]+)["\x27]/mg) { print "$ARGV: $1\n" }
  while (/^import\s+["\x27]([^"\x27]+)["\x27]/mg) { print "$ARGV: $1\n" }
  while (/\bimport\(\s*["\x27]([^"\x27]+)["\x27]/g) { print "$ARGV: $1\n" }
' $files)
# grep -v finding nothing to keep (exit 1) means every import is allowed.
bad=$(grep -vE ": (@temporalio/workflow|\./[^/]+\.ts|\.\./domain/(types|events|suppression|cursors)\.ts)$" <<<"$imports" || [ $? -eq 1 ])
if [ -n "$bad" ]; then
  echo "workflow files may import at run time only @temporalio/workflow, each other and the pure ../domain/types.ts, events.ts, suppression.ts and cursors.ts:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "workflow imports: ok ($(wc -l <<<"$imports") imports in $(wc -w <<<"$files") files)"
