#!/usr/bin/env bash
# The service's containers in docker-compose.yml run hardened, as make e2e runs the image
# (e2e/harness.ts): read-only root filesystem, no capabilities, no privilege escalation.
# Reads the resolved file (`docker-compose config`), so anchors and overrides count.
set -euo pipefail
cd "$(dirname "$0")/.."
resolved="$(docker-compose -f docker-compose.yml config)"
status=0
for service in bridge worker; do
  # The service's block: from "  <name>:" to the next service at the same depth.
  block="$(printf '%s\n' "$resolved" | awk -v s="  $service:" '$0 == s {on=1; next} on && /^  [a-z][a-z0-9_-]*:$/ {on=0} on')"
  for want in 'read_only: true' 'cap_drop:' '- ALL' '- no-new-privileges:true' 'tmpfs:'; do
    if ! grep -qF -- "$want" <<<"$block"; then
      echo "docker-compose.yml: service $service lacks '$want'" >&2
      status=1
    fi
  done
done
[ "$status" -eq 0 ] && echo "docker-compose.yml: bridge and worker run read-only, without capabilities or privilege escalation"
exit "$status"
