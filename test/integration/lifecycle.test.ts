/**
 * The service's process as operators run it (`node src/main.ts --role=…`): it never stays up
 * without its workers, and an argument or a configuration it cannot use stops it at once with
 * an error that names it, instead of being ignored or retried as if Temporal were down.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RpcError } from '@protobuf-ts/runtime-rpc';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { eventually } from '../support/eventually.ts';
import { connectClients, finalStatus } from '../support/grpc.ts';
import { stop, waitUntil } from '../support/processes.ts';
import { type Stack, startBridgeProcess, startStack, startWorkerProcess, TS_FLAGS } from './harness.ts';

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
    return { exited, output: () => output, kill: () => child.kill('SIGKILL'), pid: child.pid! };
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

  it("counts open newsletters by state on the bridge's ops port; at SIGTERM reports not ready at once, ends open watches UNAVAILABLE (clients reconnect) and exits after its drain", async () => {
    // A newsletter held paused (batches left), before the bridge starts: its first count of open newsletters finds it.
    const id = newsletterId('drain-ready');
    stack.mock.resend.setLatency(1_000);
    const { workflowId } = await stack.newsletters.sendNewsletter(
      newsletterRequest(id, recipients(3_000, 'drain-')),
      stack.auth,
    ).response;
    await stack.newsletters.pauseNewsletter({ newsletterId: id }, stack.auth).response;
    stack.mock.resend.setLatency(0);
    const { bridge, port, opsPort } = await startBridgeProcess(stack, 'drain-ready');
    const ready = async () => (await fetch(`http://127.0.0.1:${opsPort}/ready`)).status;
    const clients = connectClients(port);
    try {
      await waitUntil(bridge, 'readiness', async () => (await ready()) === 200, 60_000);
      // Its ops port counts the open newsletters by the state their workflows keep (NewsletterStuck reads it).
      const open = async () => {
        const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
        return Object.fromEntries(
          [...text.matchAll(/^newsletter_newsletters_open\{[^}]*state="(\w+)"[^}]*\} (\d+)$/gm)].map((m) => [
            m[1],
            Number(m[2]),
          ]),
        );
      };
      const counted = await eventually(async () => ((await open())['PAUSED'] ?? 0) >= 1 && open(), 40_000);
      assert.equal(counted['RUNNING'], 0, `open newsletters: ${JSON.stringify(counted)}`);
      // The paused newsletter watched through this bridge, and a call waiting for its result
      // there: the waiting call keeps the drain going (up to its 5 s bound).
      const waiting = clients.workflows.getWorkflowResult({ workflowId, runId: '', wait: true }, stack.auth).response
        .catch(() => undefined);
      const watch = (async () => {
        for await (const _ of clients.newsletters.watchNewsletter({ newsletterId: id }, stack.auth).responses);
        return 'OK';
      })().catch((err: RpcError) => err.code);
      await sleep(500);

      process.kill(bridge.pid, 'SIGTERM');
      const answers: number[] = [];
      while (bridge.exitedAs === undefined && answers.length < 80) {
        answers.push(await ready().catch(() => 0));
        await sleep(50);
      }
      // The first answers may come before the signal is handled; from the first 503 on, never ready again.
      const draining = answers.slice(answers.indexOf(503));
      assert.ok(answers.includes(503), `/ready while the bridge drained: ${answers.join(',')}`);
      assert.ok(draining.filter((s) => s === 503).length >= 2, `answers: ${answers.join(',')}`);
      assert.ok(draining.every((s) => s !== 200), `/ready after the drain began: ${answers.join(',')}`);
      // UNAVAILABLE is what clients retry (the contracts client reconnects); CANCELLED would read as a cancelled call.
      assert.equal(await watch, 'UNAVAILABLE');
      // A call still waiting (GetWorkflowResult) ends with the drain's 5 s: the process does not hang on it.
      assert.notEqual(await within(bridge.exited, 15_000), 'still running', 'the bridge exits after its drain');
      await waiting;
    } finally {
      clients.close();
      await stop(bridge);
      await stack.newsletters.resumeNewsletter({ newsletterId: id }, stack.auth).response.catch(() => undefined);
    }
    assert.equal((await finalStatus(stack, id)).state, NewsletterState.COMPLETED);
  });

  it('exits at a second SIGINT without waiting for the drain (a person pressing Ctrl-C again)', async () => {
    // The stack's own worker steps aside: the send goes to the worker process, and hangs at the provider.
    await stack.stopWorker();
    stack.mock.resend.setLatency(25_000);
    const worker = await startWorkerProcess(stack);
    const id = newsletterId('second-sigint');
    try {
      await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(3, 'ss-')), stack.auth).response;
      await sleep(2_000); // its request is at the provider now
      worker.signal('SIGINT');
      await sleep(500);
      assert.equal(await within(worker.exited, 100), 'still running', 'the first SIGINT drains the send in flight');
      worker.signal('SIGINT');
      assert.equal(await within(worker.exited, 5_000), 130);
    } finally {
      stack.mock.resend.setLatency(0);
      if ((await within(worker.exited, 0)) === 'still running') await worker.stop();
      await stack.startWorker();
    }
    assert.equal((await finalStatus(stack, id)).state, NewsletterState.COMPLETED);
  });
  it('is not killed by a SIGHUP (a certificate renewal) while --role=all drains its sends after SIGTERM', async () => {
    await stack.stopWorker();
    stack.mock.resend.setLatency(6_000);
    const all = run(['--role=all'], {
      TEMPORAL_SERVER_PORT: '0',
      BRIDGE_OPS_PORT: '0',
      WEBHOOK_PORT: '0',
      LOG_LEVEL: 'info',
    });
    const id = newsletterId('hup-drain');
    try {
      await eventually(() => all.output().includes('worker polling') || undefined, 60_000).catch(() => {
        throw new Error(`--role=all did not start: ${all.output().slice(-2_000)}`);
      });
      await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(3, 'hd-')), stack.auth).response;
      await sleep(2_000); // its request is at the provider now
      process.kill(all.pid, 'SIGTERM');
      await sleep(500); // the bridge has stopped; the worker drains
      process.kill(all.pid, 'SIGHUP');
      assert.equal(await within(all.exited, 30_000), 0, all.output().slice(-2_000));
    } finally {
      stack.mock.resend.setLatency(0);
      if ((await within(all.exited, 0)) === 'still running') all.kill();
      await stack.startWorker();
    }
    assert.equal((await finalStatus(stack, id)).state, NewsletterState.COMPLETED);
  });
});
