# Every target runs `setup` first: a fresh clone needs nothing but this Makefile.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# Node runs the TypeScript sources directly; protobuf-ts emits TS enums, which need
# transform-types rather than plain type stripping.
NODE_TS := node --experimental-transform-types --disable-warning=ExperimentalWarning
DENO_CHECKED := contracts/index.ts contracts/client.ts contracts/client.spec.ts contracts/http contracts/gen src/config.ts src/domain src/providers src/bridge src/backend mock-providers

.PHONY: contracts-deno compose-check e2e dev test unit integration setup replay-record chaos proto proto-check proto-breaking proto-baseline lint typecheck deno-check build ci mock-providers

## dev: run the whole service on embedded defaults (Temporal dev server, mock providers, bridge + worker),
## with the settings of .env when there is one (Node's own loader; variables already in the environment win)
dev: setup
	$(NODE_TS) $(if $(wildcard .env),--env-file=.env) scripts/dev.ts

## test: unit + integration tests (integration runs against a real Temporal dev server)
test: setup
	scripts/ensure-packages.sh
	TEMPORAL_CLI="$$(scripts/temporal-cli.sh)" $(NODE_TS) --test --test-force-exit --test-concurrency=1 --test-timeout=300000 \
	  'src/**/*.spec.ts' 'contracts/**/*.spec.ts' 'mock-providers/**/*.spec.ts' 'bench/**/*.spec.ts' 'test/**/*.test.ts'

unit: setup
	$(NODE_TS) --test 'src/**/*.spec.ts' 'contracts/**/*.spec.ts' 'mock-providers/**/*.spec.ts' 'bench/**/*.spec.ts'

integration: setup
	TEMPORAL_CLI="$$(scripts/temporal-cli.sh)" $(NODE_TS) --test --test-force-exit --test-concurrency=1 --test-timeout=300000 'test/**/*.test.ts'

## contracts-deno: the contracts package's specs and Deno example type-checked and run under Deno 2 (make test runs them under Node)
contracts-deno: setup
	cd contracts && ../node_modules/.bin/deno check --quiet examples/deno/send-and-watch.ts && \
	  ../node_modules/.bin/deno test --allow-net --allow-env --allow-read --allow-sys

setup:
	@scripts/setup.sh

## proto: regenerate contracts/gen from proto/ (the one command)
proto: setup
	scripts/gen-proto.sh

## proto-check: fail when the committed generated code is stale
proto-check: proto
	@git diff --exit-code --stat -- contracts/gen && \
	  test -z "$$(git status --porcelain --untracked-files=all -- contracts/gen)" || \
	  { echo "contracts/gen is stale: run 'make proto' and commit the result" >&2; exit 1; }

## proto-breaking: fail on a breaking change against the committed baseline image
proto-breaking: setup
	buf breaking proto --against proto/breaking-baseline.binpb

## proto-baseline: deliberately accept the current contract as the new baseline
proto-baseline: setup
	buf build proto -o proto/breaking-baseline.binpb

lint: setup
	buf lint
	deno fmt --check
	deno lint
	scripts/check-workflow-imports.sh

typecheck: setup
	tsc -p tsconfig.json --noEmit

## deno-check: the runtime-neutral modules type-check under Deno too
deno-check: setup
	deno check --quiet $(DENO_CHECKED)

build: setup
	npm run build

mock-providers: setup
	$(NODE_TS) mock-providers/main.ts

## replay-record: record the replay test's workflow histories from this checkout (RELEASE=vX.Y.Z; see test/replay/record.ts)
replay-record: setup
	TEMPORAL_CLI="$$(scripts/temporal-cli.sh)" $(NODE_TS) test/replay/record.ts $(RELEASE)

## chaos: fault tests against the production build as operators run it (test/chaos/): crashes, slow and dead providers, backend outages, many newsletters at once
chaos: build
	TEMPORAL_CLI="$$(scripts/temporal-cli.sh)" $(NODE_TS) --test --test-force-exit --test-concurrency=3 --test-timeout=900000 'test/chaos/*.chaos.ts'

## e2e: Testcontainers suites against the images built from this repo (starts and stops its own dockerd when none answers)
e2e: setup
	scripts/e2e.sh

## ci: the quick part of what .ci/run checks (contract, lint, types, Deno, make test); `bash .ci/run` runs it all (README setup, build, chaos, compose, e2e)
ci: proto-check proto-breaking lint typecheck deno-check test

## compose-check: docker-compose.yml validates (Debian's docker-compose) and its Prometheus config too
compose-check:
	@command -v docker-compose >/dev/null 2>&1 || { sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends docker-compose; }
	docker-compose -f docker-compose.yml config -q
	scripts/check-compose.sh
	scripts/ensure-packages.sh
	promtool check config observability/prometheus/prometheus.compose.yml

## bench: the benchmark (bench/README.md), against the production build (dist/): prints a table, writes bench/results.json; BENCH_ONLY=direct,ours runs a subset
.PHONY: bench
bench: build
	TEMPORAL_CLI="$$(scripts/temporal-cli.sh)" $(NODE_TS) bench/run.ts
