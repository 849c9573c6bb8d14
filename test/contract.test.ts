/**
 * The contract check: buf breaking against the committed baseline fails when a field
 * number changes, and passes for the committed proto/.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

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
