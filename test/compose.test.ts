/**
 * docker-compose.yml runs Temporal the way the tests and `make dev` do (fairness on, one
 * partition), and hands the service every setting it reads.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { CONFIG_VARIABLES } from '../src/config.ts';
import { devServerArgs } from './support/temporal.ts';

describe('docker-compose.yml', () => {
  it("starts the Temporal dev server with the tests' dynamic config", () => {
    const compose = parse(readFileSync('docker-compose.yml', 'utf8'));
    const command: string[] = compose.services.temporal.command;
    const flags = devServerArgs().filter((arg) => arg !== '--dynamic-config-value');
    for (const flag of flags) assert.ok(command.includes(`--dynamic-config-value=${flag}`), `missing ${flag}`);
  });

  it('hands the service every setting it reads: one set in .env reaches it (compose passes only what it names)', () => {
    // `<<: *service` merges the shared service settings, as compose reads them.
    const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true });
    for (const role of ['bridge', 'worker']) {
      const environment = Object.keys(compose.services[role].environment ?? {});
      const missing = CONFIG_VARIABLES.filter((name) => !environment.includes(name));
      assert.deepEqual(missing, [], `${role}: not passed through`);
    }
  });

  it('lets .env set everything but what compose must fix (the ports it publishes, the bind address, the Temporal and collector addresses)', () => {
    const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true });
    const fixed = [
      'TEMPORAL_SERVER_PORT',
      'BRIDGE_OPS_PORT',
      'WORKER_OPS_PORT',
      'WEBHOOK_PORT',
      'GRPC_HOST',
      'TEMPORAL_ADDRESS',
      'OTEL_EXPORTER_OTLP_ENDPOINT',
    ];
    for (const role of ['bridge', 'worker']) {
      const environment: Record<string, unknown> = compose.services[role].environment;
      const ignored = Object.entries(environment)
        .filter(([name, value]) => !fixed.includes(name) && !String(value).includes(`\${${name}`))
        .map(([name]) => name);
      assert.deepEqual(ignored, [], `${role}: set by compose whatever .env says`);
    }
  });

  it('serves the namespace the service is configured with (the dev server makes only default otherwise)', () => {
    const compose = parse(readFileSync('docker-compose.yml', 'utf8'));
    assert.ok(compose.services.temporal.command.includes('--namespace=${TEMPORAL_NAMESPACE:-default}'));
  });
});
