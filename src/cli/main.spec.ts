import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { addressOf, isEntryPoint, run } from './main.ts';
import { EXIT, type Io } from './outcome.ts';

/** captured runs the CLI with its output kept. */
async function captured(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await run(argv, { stdout: stdout as unknown as Io['stdout'], stderr, env: {} });
  return { code, out, err };
}

describe('the CLI', () => {
  it('reaches the service where it binds: loopback for a wildcard, an IPv6 literal in brackets, --address first', () => {
    assert.equal(addressOf({}, {}), '127.0.0.1:50051');
    assert.equal(addressOf({}, { GRPC_HOST: '0.0.0.0', TEMPORAL_SERVER_PORT: '6000' }), '127.0.0.1:6000');
    assert.equal(addressOf({}, { GRPC_HOST: '::1' }), '[::1]:50051');
    assert.equal(addressOf({}, { GRPC_HOST: '[::1]' }), '[::1]:50051');
    assert.equal(addressOf({ address: 'bridge:7000' }, { GRPC_HOST: '::1' }), 'bridge:7000');
  });

  /** notPem is a status call with TLS files that are not PEM (a usage error found before any call). */
  const notPem = (): string[] => {
    const bad = join(mkdtempSync(join(tmpdir(), 'cli-tls-')), 'not.pem');
    writeFileSync(bad, 'this is not a certificate');
    return ['status', 'n1', '--address', '127.0.0.1:1', '--tls-cert', bad, '--tls-key', bad];
  };

  it('refuses TLS files that are not PEM as usage, naming the flags, before any call', async () => {
    const { code, err } = await captured(notPem());
    assert.equal(code, EXIT.usage);
    assert.match(err, /--tls-cert/);
  });

  it('refuses a token a header cannot carry as usage, without printing it', async () => {
    const { code, err } = await captured(['status', 'n1', '--address', '127.0.0.1:1', '--token', 'k8s-secret\u0001']);
    assert.equal(code, EXIT.usage);
    assert.match(err, /token: /);
    assert.ok(!err.includes('k8s-secret'), err);
  });

  it('writes an error as one JSON object with --json: its message, gRPC code (null before any call) and exit code', async () => {
    const { code, err } = await captured(['--json', ...notPem()]);
    assert.equal(code, EXIT.usage);
    const line = JSON.parse(err);
    assert.deepEqual([line.code, line.exit], [null, EXIT.usage]);
    assert.match(line.error, /--tls-cert/);
  });

  it('runs as the entry point also where import.meta.main does not exist (Node 22.15 to 22.17)', () => {
    const url = new URL('./main.ts', import.meta.url).href;
    assert.equal(isEntryPoint({ url }, fileURLToPath(url)), true);
    assert.equal(isEntryPoint({ url }, '/elsewhere/other.js'), false);
    assert.equal(isEntryPoint({ url, main: false }, fileURLToPath(url)), false);
  });

  it('ends quietly with 0 when its reader closes the pipe early (watch | head), without a stack trace', async () => {
    const cli = fileURLToPath(new URL('./main.ts', import.meta.url));
    const flags = ['--experimental-transform-types', '--disable-warning=ExperimentalWarning'];
    const child = spawn(process.execPath, [...flags, cli, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // The reader is gone before the CLI writes: its first write meets a closed pipe.
    child.stdout.destroy();
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => child.once('exit', (c, signal) => resolve(c ?? signal)));
    assert.equal(err, '');
    assert.equal(code, EXIT.ok);
  });
});
