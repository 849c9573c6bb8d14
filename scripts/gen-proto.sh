#!/usr/bin/env bash
# Regenerates everything derived from proto/: the protobuf-ts messages, clients and
# servers in contracts/gen, and the descriptor sets the server hands to reflection.
# Run through `make proto`; CI runs `make proto-check` to fail on stale output.
set -euo pipefail
cd "$(dirname "$0")/.."

buf lint
buf generate

# protobuf-ts has no option for import extensions; Deno and Node ESM need explicit
# `.ts` on relative imports.
find contracts/gen -name '*.ts' -print0 |
  xargs -0 sed -i -E \
    -e 's#(from ")(\.{1,2}/[^"]+)(";)#\1\2.ts\3#' \
    -e 's#^import \{ (RpcInputStream|ServerCallContext) \}#import type { \1 }#'
# ^ Those two are interfaces: a value import of them fails under type stripping.

# Unmodified FileDescriptorProtos for server reflection (proto-loader loses imports:
# grpc-node #3018). The health service is added so clients can discover it too.
buf build proto -o contracts/gen/descriptors.binpb
buf build node_modules/grpc-health-check/proto -o contracts/gen/health-descriptors.binpb
