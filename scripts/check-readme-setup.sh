#!/usr/bin/env bash
# The setup the original README promises, step by step as a newcomer types it, on this
# checkout (CI runs it on a clean clone), with the machine's own Node first on PATH
# (older than the project needs: `npm run dev` hands over to the setup `make dev` uses):
#   npm install
#   cp config.example.env .env
#   npm run dev
#   curl http://localhost:50051/health
# It passes when /health answers on the gRPC port, the service is the one .env describes
# (a variable set in the environment wins over .env), and the terminal shows readable log
# lines, not JSON and not webpack's bundling report. Then Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

# Only the machine's own tools: nothing of ours on PATH.
PATH=$(tr ':' '\n' <<<"$PATH" | grep -v -e "^$PWD/.tools/bin$" -e "^$PWD/node_modules/.bin$" | paste -sd:)
export PATH
echo "readme-setup: node $(node --version 2>/dev/null || echo missing) and npm $(npm --version) from the machine"

[ -e .env ] && { echo "readme-setup: .env exists already; run this on a clean clone" >&2; exit 1; }
log=$(mktemp)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    # Ctrl-C first: make dev stops the Temporal dev server it started (in a process group of its
    # own, which a KILL of this group would leave running on :7233 for the next make dev).
    kill -INT -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f .env
}
trap cleanup EXIT

lock_before=$(sha1sum package-lock.json)
npm install --no-audit --no-fund --loglevel=error
[ "$(sha1sum package-lock.json)" = "$lock_before" ] || { echo "readme-setup: npm install changed package-lock.json" >&2; exit 1; }
cp config.example.env .env
# The environment wins over .env: the bridge's ops port comes from here, the gRPC port from .env.
export BRIDGE_OPS_PORT=19464
setsid npm run dev >"$log" 2>&1 &
pid=$!

health=
for _ in $(seq 1 240); do
  if health=$(curl -fsS http://localhost:50051/health 2>/dev/null); then break; fi
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "readme-setup: npm run dev exited" >&2; exit 1; }
  sleep 1
done
[ -n "$health" ] || { cat "$log"; echo "readme-setup: no answer on http://localhost:50051/health within 4 min" >&2; exit 1; }
echo "readme-setup: curl http://localhost:50051/health -> $health"
curl -fsS "http://127.0.0.1:$BRIDGE_OPS_PORT/health" >/dev/null ||
  { cat "$log"; echo "readme-setup: BRIDGE_OPS_PORT from the environment was not used" >&2; exit 1; }
sleep 2 # the worker's start-up lines
fail=
grep -q '{"level"' "$log" && { echo "readme-setup: JSON log lines in the terminal" >&2; fail=1; }
grep -qi 'webpack' "$log" && { echo "readme-setup: webpack's report in the terminal" >&2; fail=1; }
grep -Eq '^\[[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}\] INFO: gRPC bridge listening' "$log" ||
  { echo "readme-setup: no readable 'gRPC bridge listening' line" >&2; fail=1; }
kill -INT -- "-$pid"
for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
if kill -0 "$pid" 2>/dev/null; then echo "readme-setup: npm run dev did not stop on Ctrl-C" >&2; fail=1; fi
[ -z "$fail" ] || { cat "$log"; exit 1; }
echo "readme-setup: ok ($(wc -l <"$log") lines of readable logs; stopped on Ctrl-C)"
