/**
 * The contract checks: buf breaking against the committed baseline fails when a field
 * number changes, and passes for the committed proto/; the backend's OpenAPI parses and
 * agrees with the service's event kinds (every integration suite also checks the bodies the
 * service sends against its schemas: test/support/backend.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EVENT_KINDS } from '../src/domain/events.ts';
import { openapi } from './support/openapi.ts';

const run = promisify(execFile);
const breaking = (protoDir: string) => run('buf', ['breaking', protoDir, '--against', 'proto/breaking-baseline.binpb']);

describe('contract check', () => {
  it('accepts the committed contract', async () => {
    await breaking('proto');
  });

  it('fails when a field number changes', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'proto-')), 'proto');
    cpSync('proto', dir, { recursive: true });
    const file = join(dir, 'authentik/temporal/v1/newsletter.proto');
    const source = readFileSync(file, 'utf8');
    assert.ok(source.includes('string subject = 2;'));
    writeFileSync(file, source.replace('string subject = 2;', 'string subject = 20;'));
    await assert.rejects(breaking(dir), (err: { stdout?: string }) => {
      assert.match(err.stdout ?? '', /Previously present field "2" with name "subject"/);
      return true;
    });
  });
});

describe('the backend HTTP contract (contracts/http/backend.openapi.yaml)', () => {
  it('parses, and lists every provider event kind the service forwards', () => {
    const record = openapi.components.schemas['DeliveryEventRecord'] as {
      properties: { kind: { enum: string[] } };
    };
    assert.deepEqual([...record.properties.kind.enum].sort(), [...EVENT_KINDS].sort());
  });
});
