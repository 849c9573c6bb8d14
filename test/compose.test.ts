/** docker-compose.yml runs Temporal the way the tests and `make dev` do (fairness on, one partition). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { devServerArgs } from './support/temporal.ts';

describe('docker-compose.yml', () => {
  it("starts the Temporal dev server with the tests' dynamic config", () => {
    const compose = parse(readFileSync('docker-compose.yml', 'utf8'));
    const command: string[] = compose.services.temporal.command;
    const flags = devServerArgs().filter((arg) => arg !== '--dynamic-config-value');
    for (const flag of flags) assert.ok(command.includes(`--dynamic-config-value=${flag}`), `missing ${flag}`);
  });
});
