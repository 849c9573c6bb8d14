/**
 * The service's process as operators run it (`node src/main.ts --role=…`): it never stays up
 * without its workers, and an argument or a configuration it cannot use stops it at once with
 * an error that names it, instead of being ignored or retried as if Temporal were down.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { type Stack, startStack, startWorkerProcess, TS_FLAGS } from './harness.ts';

/** within resolves with what promise gives, or with 'still running' after ms. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((resolve) => {
    timer = setTimeout(() => resolve('still running'), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('service process lifecycle', { timeout: 120_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.close();
  });

  /** run starts `node src/main.ts args` with the stack's configuration plus env, and collects its output. */
  function run(args: string[], env: Record<string, string> = {}) {
    const child = spawn(process.execPath, [...TS_FLAGS, 'src/main.ts', ...args], {
      env: { ...process.env, ...stack.serviceEnv, TEMPORAL_ADDRESS: stack.env.address, WORKER_OPS_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    });
    return { exited, output: () => output, kill: () => child.kill('SIGKILL') };
  }

  for (const signal of ['SIGUSR2', 'SIGQUIT'] as const) {
    it(`does not stay up without its workers after ${signal} (the Temporal runtime's own shutdown signals)`, async () => {
      const worker = await startWorkerProcess(stack);
      worker.signal(signal);
      const outcome = await within(worker.exited, 15_000);
      if (outcome === 'still running') await worker.stop();
      assert.notEqual(outcome, 'still running', `the worker process was still up 15 s after ${signal}`);
    });
  }

  it('refuses an argument it does not know, naming it (--role worker, with a space)', async () => {
    const proc = run(['--role', 'worker']);
    const outcome = await within(proc.exited, 15_000);
    if (outcome === 'still running') proc.kill();
    assert.equal(outcome, 2, proc.output());
    assert.match(proc.output(), /unknown argument "--role"/);
  });

  it('stops at once when a Temporal TLS file cannot be read, naming it, instead of retrying as if Temporal were down', async () => {
    const proc = run(['--role=worker'], { TEMPORAL_TLS_CA: '/nonexistent/temporal-ca.pem' });
    const outcome = await within(proc.exited, 15_000);
    if (outcome === 'still running') proc.kill();
    assert.equal(outcome, 1, proc.output());
    assert.match(proc.output(), /temporal-ca\.pem/);
    assert.doesNotMatch(proc.output(), /Temporal unreachable/);
  });
});
