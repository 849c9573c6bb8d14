/**
 * The contracts package as the backend meets it: `npm pack` in contracts/ gives a tarball
 * of JavaScript and type declarations that installs into an empty Node project (no
 * TypeScript, no flags of ours), and its example sends a newsletter to a running service
 * and watches it to the end. The Deno example does the same from the sources.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TOKEN } from '../support/fixtures.ts';
import { type Stack, startStack } from './harness.ts';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const contracts = join(root, 'contracts');

describe('the contracts package', { timeout: 300_000 }, () => {
  let stack: Stack;
  const work = mkdtempSync(join(tmpdir(), 'contracts-package-'));
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.close();
    rmSync(work, { recursive: true, force: true });
  });
  const exampleEnv = (id: string) => ({
    ...process.env,
    NEWSLETTER_ADDRESS: `127.0.0.1:${stack.bridge.port}`,
    NEWSLETTER_TOKEN: TOKEN,
    NEWSLETTER_ID: id,
  });
  const delivered = (id: string) => stack.mock.resend.received().filter((e) => e.tags?.newsletter_id === id).length;

  it('packs JS and type declarations that install into an empty Node project, whose example call works', async () => {
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: contracts });
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<
      { filename: string; files: { path: string }[] }
    >;
    const files = packed!.files.map((f) => f.path);
    for (
      const f of ['dist/index.js', 'dist/index.d.ts', 'dist/client.js', 'dist/http/index.js', 'dist/http/index.d.ts']
    ) {
      assert.ok(files.includes(f), `${f} is in the tarball (${files.join(', ')})`);
    }
    assert.deepEqual(
      files.filter((f) => /\.spec\.|(?<!\.d)\.ts$/.test(f)),
      [],
      'no sources or specs, only JS and .d.ts',
    );

    const project = join(work, 'backend');
    await run('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'backend', private: true, type: 'module' }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, packed!.filename)], {
      cwd: project,
    });
    copyFileSync(join(contracts, 'examples/node/send-and-watch.mjs'), join(project, 'send-and-watch.mjs'));
    // Plain node: no TypeScript, no flags.
    const { stdout: out } = await run(process.execPath, ['send-and-watch.mjs'], {
      cwd: project,
      env: exampleEnv('pkg-node-1'),
      timeout: 120_000,
    });
    assert.match(out, /^started newsletter-pkg-node-1$/m);
    assert.match(out, /^COMPLETED sent=2 failed=0 of 2$/m);
    assert.equal(delivered('pkg-node-1'), 2);
  });

  it('runs its Deno example from the sources against the same service', async () => {
    const { stdout } = await run(
      join(root, 'node_modules/.bin/deno'),
      ['run', '--allow-net', '--allow-env', '--allow-read', '--allow-sys', 'examples/deno/send-and-watch.ts'],
      { cwd: contracts, env: exampleEnv('pkg-deno-1'), timeout: 120_000 },
    );
    assert.match(stdout, /^started newsletter-pkg-deno-1$/m);
    assert.match(stdout, /^COMPLETED sent=2 failed=0 of 2$/m);
    assert.equal(delivered('pkg-deno-1'), 2);
  });
});
