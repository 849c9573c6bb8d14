#!/usr/bin/env bash
# `make e2e`: the Testcontainers suites in e2e/ against images built from this repo.
#  1. a Docker engine: the one at DOCKER_HOST when it answers; otherwise Debian's dockerd,
#     started here (flags for a machine without bridge networking) and stopped afterwards;
#  2. images: the service (Dockerfile), a Temporal dev server and the mock providers; the
#     Node base is node:24-slim when it can be pulled, else a local stand-in built from this
#     machine's Node (e2e/images/make-local-node-base.sh);
#  3. the suites, one at a time; then every container from these images is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export TESTCONTAINERS_RYUK_DISABLED=true # the Ryuk image cannot be pulled here; suites clean up themselves
export DOCKER_BUILDKIT=0                 # the legacy builder needs no buildx plugin and honours --network host
# Containers run in host network mode on loopback: the host is 127.0.0.1 (this also spares
# Testcontainers its lookup of a `bridge` network, which a dockerd without one lacks).
export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1

started_daemon=""
engine_dir=""
cleanup() {
  local status=$?
  if docker info >/dev/null 2>&1; then
    for image in "${images[@]:-}"; do
      [ -n "$image" ] || continue
      ids=$(docker ps -aq --filter "ancestor=$image" 2>/dev/null || true)
      [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
    done
  fi
  if [ -n "$started_daemon" ]; then
    kill "$started_daemon" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$started_daemon" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$started_daemon" 2>/dev/null || true
    pkill -f "containerd --config $engine_dir" 2>/dev/null || true
    # vfs keeps a full copy per layer: do not leave gigabytes behind (the netns mount point
    # dockerd leaves must be unmounted first).
    # (`|| true`: under set -e a file that is not a mount point would end the clean-up here, and fail a passing run.)
    for mount in "$engine_dir"/exec/netns/*; do if [ -e "$mount" ]; then umount "$mount" 2>/dev/null || true; fi; done
    rm -rf "$engine_dir" 2>/dev/null || echo "e2e: could not remove all of $engine_dir" >&2
  fi
  exit $status
}
trap cleanup EXIT INT TERM

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "e2e: installing Debian's docker.io for its dockerd" >&2
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends docker.io >&2
  fi
  engine_dir="$root/.data/docker-engine"
  mkdir -p "$engine_dir"
  export DOCKER_HOST="unix://$engine_dir/docker.sock"
  echo "e2e: starting dockerd at $DOCKER_HOST" >&2
  dockerd --host "$DOCKER_HOST" --data-root "$engine_dir/data" --exec-root "$engine_dir/exec" \
    --pidfile "$engine_dir/docker.pid" --storage-driver=vfs --iptables=false --ip6tables=false \
    --bridge=none >"$engine_dir/dockerd.log" 2>&1 &
  started_daemon=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "e2e: dockerd did not start; see $engine_dir/dockerd.log" >&2; exit 1; }
fi

service_image=authentik-temporal-server:e2e
temporal_image=authentik-temporal-dev:e2e
mock_image=authentik-mock-providers:e2e
images=("$service_image" "$temporal_image" "$mock_image")

node_image=${E2E_NODE_IMAGE:-node:24-slim}
if ! docker image inspect "$node_image" >/dev/null 2>&1 && ! docker pull -q "$node_image" >/dev/null 2>&1; then
  echo "e2e: $node_image could not be pulled: building a local stand-in, authentik-local/node:24" >&2
  node_image=authentik-local/node:24
  e2e/images/make-local-node-base.sh "$node_image" >/dev/null
fi

echo "e2e: building images on $node_image" >&2
docker build -q --network host --build-arg NODE_IMAGE="$node_image" -t "$service_image" . >/dev/null
docker build -q --network host --build-arg NODE_IMAGE="$node_image" -f mock-providers/Dockerfile \
  -t "$mock_image" mock-providers >/dev/null
# The service image holds the product only (no mock providers, tests or specs).
docker run --rm --network host --entrypoint node "$service_image" -e '
  const bad = require("fs").readdirSync("/app/dist", { recursive: true })
    .filter((f) => /mock-providers|(^|\/)(test|e2e)\/|\.spec\.js$/.test(f));
  if (bad.length) { console.error("e2e: the service image contains non-product code:\n" + bad.join("\n")); process.exit(1); }'
# ...and production dependencies only: no package that only the devDependencies bring is installed in it
# (@types/node, say, stays: a production dependency needs it).
prod_tree=$(npm ls --omit=dev --all --parseable 2>/dev/null || true)
dev_deps=$(node -e 'console.log(Object.keys(require("./package.json").devDependencies ?? {}).join("\n"))' |
  while read -r dep; do grep -q "/node_modules/$dep\$" <<<"$prod_tree" || echo "$dep"; done | tr '\n' ' ')
docker run --rm --network host --entrypoint node "$service_image" -e '
  const fs = require("fs");
  const present = process.argv.slice(1).filter((name) => fs.existsSync(`/app/node_modules/${name}/package.json`));
  if (present.length) { console.error("e2e: dev dependencies in the service image: " + present.join(", ")); process.exit(1); }' \
  -- $dev_deps
size=$(docker image inspect -f '{{.Size}}' "$service_image")
echo "e2e: service image $service_image: $((size / 1024 / 1024)) MB, production dependencies only, runs as $(docker image inspect -f '{{.Config.User}}' "$service_image")" >&2
temporal_context=$(mktemp -d)
cp "$(readlink -f "$(scripts/temporal-cli.sh)")" "$temporal_context/temporal"
docker build -q -f e2e/images/temporal.Dockerfile -t "$temporal_image" "$temporal_context" >/dev/null
rm -rf "$temporal_context"

suites="${E2E_SUITES:-e2e/**/*.e2e.ts}" # E2E_SUITES=e2e/contract.e2e.ts runs one suite
# node --test passes with "tests 0" when the pattern matches no file: a typo must not pass.
node -e 'if (require("node:fs").globSync(process.argv[1]).length === 0) { console.error(`e2e: no suite matches ${process.argv[1]}`); process.exit(1); }' "$suites"
echo "e2e: running suites" >&2
node --experimental-transform-types --disable-warning=ExperimentalWarning --test --test-force-exit --test-concurrency=1 \
  --test-timeout=900000 "$suites"
