#!/usr/bin/env bash
# Workflow code must stay deterministic: no Node built-ins, no I/O libraries, and
# activities only by type. Fails listing the offending imports.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(grep -nE "^import (?!type)" -P src/workflows/*.ts 2>/dev/null |
  grep -vE "from '@temporalio/workflow'|from '\./|from '\.\./delivery/types\.ts'|\.spec\.ts:" || true)
if [ -n "$bad" ]; then
  echo "workflow files may import only @temporalio/workflow, each other and delivery/types.ts at runtime:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "workflow imports: ok"
