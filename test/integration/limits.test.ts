/**
 * Resource limits of one request (README, "Security"): the Temporal calls made for a
 * request end within TEMPORAL_CALL_TIMEOUT when Temporal stops answering, and when the
 * caller goes away; WatchNewsletter streams are bounded per caller and in lifetime.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { RpcError } from '@protobuf-ts/runtime-rpc';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { startBridge } from '../../src/bridge/server.ts';
import { dataConverter } from '../../src/data-converter.ts';
import { clientInterceptors } from '../../src/telemetry/temporal-tracing.ts';
import { createLogger } from '../../src/logger.ts';
import { fetchText } from '../../src/telemetry/ops-server.ts';
import { eventually } from '../support/eventually.ts';
import { auth, newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { connectClients, outcomeOf } from '../support/grpc.ts';
import { type Stack, startStack } from './harness.ts';

/** freezingProxy forwards TCP to target until freeze(): from then on no byte moves either way and no connection closes. */
async function freezingProxy(target: string): Promise<{ address: string; freeze(): void; close(): void }> {
  const [host, port] = target.split(':');
  const sockets = new Set<Socket>();
  let frozen = false;
  const server: Server = createServer((socket) => {
    const upstream = connect(Number(port), host!);
    for (const s of [socket, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      if (frozen) s.pause();
    }
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${own}`,
    freeze() {
      frozen = true;
      for (const s of sockets) s.pause();
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** codeOf is the gRPC status a call ended with, or 'OK'. */
const codeOf = async (call: Promise<unknown>): Promise<string> => (await outcomeOf(call)).code;

describe('request limits', { timeout: 60_000 }, () => {
  let stack: Stack;
  let id: string;
  before(async () => {
    stack = await startStack({
      TEMPORAL_CALL_TIMEOUT: '1s',
      WATCH_MAX_STREAMS_PER_CALLER: '2',
      WATCH_MAX_LIFETIME: '4s',
      // Small batches, one at a time: the paused newsletter keeps some left to send.
      NEWSLETTER_BATCH_SIZE: '5',
      EMAIL_CONCURRENCY_LIMIT: '1',
    });
    // A newsletter that stays running: paused before its first batch is done.
    stack.mock.resend.setLatency(1_000);
    id = newsletterId('limits');
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(20, 'lim-')), auth);
    const { status } = await stack.newsletters.pauseNewsletter({ newsletterId: id }, auth).response;
    assert.equal(status!.state, NewsletterState.PAUSED);
    stack.mock.resend.setLatency(0);
  });
  after(async () => {
    await stack?.newsletters.cancelNewsletter({ newsletterId: id, reason: 'test over' }, auth).response
      .catch(() => undefined);
    await stack?.close();
  });

  it('answers within TEMPORAL_CALL_TIMEOUT when Temporal stops answering, though the caller set no deadline', async () => {
    const proxy = await freezingProxy(stack.env.address);
    const connection = await Connection.connect({ address: proxy.address });
    const bridge = await startBridge({
      config: { ...stack.config, grpc: { ...stack.config.grpc, port: 0 } },
      client: new Client({ connection, interceptors: clientInterceptors(), dataConverter }),
      logger: createLogger('silent'),
      descriptorDir: new URL('../../contracts/gen/', import.meta.url),
    });
    const clients = connectClients(bridge.port);
    try {
      const before = await clients.newsletters.getNewsletterStatus({ newsletterId: id }, auth).response;
      assert.equal(before.status!.state, NewsletterState.PAUSED, 'answers while Temporal does');
      proxy.freeze();
      // No deadline on the call: only the bridge's own budget (1 s here) can end it; the guard only keeps a hang from hanging the suite.
      const asked = Date.now();
      const answer = await Promise.race([
        codeOf(clients.newsletters.getNewsletterStatus({ newsletterId: id }, auth).response),
        sleep(15_000).then(() => 'no answer in 15 s'),
      ]);
      // DEADLINE_EXCEEDED; UNAVAILABLE if the bridge's health check (every 5 s) has noticed by then.
      assert.ok(['DEADLINE_EXCEEDED', 'UNAVAILABLE'].includes(answer), answer);
      // Within the budget (1 s) and some slack: not when the health check (its own 2 s deadline) gets round to it.
      const took = Date.now() - asked;
      assert.ok(took < 3_000, `answered after ${took} ms, for a 1 s budget`);
    } finally {
      clients.close();
      proxy.close();
      await bridge.close();
      await connection.close();
    }
  });

  it('stops waiting on Temporal for GetWorkflowResult with wait once its caller goes away', async () => {
    const handled = async () => {
      const text = await fetchText(`http://127.0.0.1:${stack.ops.bridgePort}/metrics`);
      return text.split('\n').find((line) =>
        line.startsWith('newsletter_grpc_server_handled_total') && line.includes('method="GetWorkflowResult"') &&
        line.includes('code="CANCELLED"')
      );
    };
    assert.equal(await handled(), undefined);
    const caller = new AbortController();
    const waiting = stack.workflows.getWorkflowResult(
      { workflowId: `newsletter-${id}`, runId: '', wait: true },
      { ...auth, abort: caller.signal },
    ).response;
    await sleep(500);
    caller.abort();
    assert.equal(await codeOf(waiting), 'CANCELLED');
    // The bridge's handler ends too (it would otherwise wait for as long as the newsletter runs).
    const line = await eventually(handled, 10_000, 100);
    assert.match(line, /\} 1$/);
    const { status } = await stack.newsletters.getNewsletterStatus({ newsletterId: id }, auth).response;
    assert.equal(status!.state, NewsletterState.PAUSED, 'the workflow itself goes on');
  });

  it('lets one caller hold WATCH_MAX_STREAMS_PER_CALLER WatchNewsletter streams; the next is RESOURCE_EXHAUSTED until one closes', async () => {
    const watch = () => {
      const abort = new AbortController();
      const call = stack.newsletters.watchNewsletter({ newsletterId: id }, { ...auth, abort: abort.signal });
      const iterator = call.responses[Symbol.asyncIterator]();
      return { abort, first: iterator.next(), done: codeOf(call.status).catch(String) };
    };
    const open = [watch(), watch()];
    for (const stream of open) assert.equal((await stream.first).value?.status?.state, NewsletterState.PAUSED);
    const third = watch();
    assert.equal(await third.done, 'RESOURCE_EXHAUSTED');
    await assert.rejects(third.first, (err: RpcError) => /at most 2 streams per client address/.test(err.message));

    open[0]!.abort.abort();
    await open[0]!.done;
    const again = await eventually(
      async () => {
        const stream = watch();
        const first = await stream.first.catch(() => undefined);
        if (first) return stream;
        return undefined;
      },
      5_000,
      100,
    );
    assert.equal((await again.first).value?.status?.state, NewsletterState.PAUSED);
    again.abort.abort();
    open[1]!.abort.abort();
  });

  it('ends a WatchNewsletter stream after WATCH_MAX_LIFETIME with UNAVAILABLE that says to watch again', async () => {
    // The previous test's streams free their slots once the server has seen them go.
    const { seen, ended } = await eventually(
      async () => {
        const call = stack.newsletters.watchNewsletter({ newsletterId: id }, auth);
        const seen: NewsletterState[] = [];
        const ended = await (async () => {
          try {
            for await (const message of call.responses) seen.push(message.status!.state);
            return undefined;
          } catch (err) {
            return err as RpcError;
          }
        })();
        return ended?.code === 'RESOURCE_EXHAUSTED' ? undefined : { seen, ended };
      },
      10_000,
      100,
    );
    assert.deepEqual(seen, [NewsletterState.PAUSED], 'one status, then no change until the stream ends');
    assert.equal(ended?.code, 'UNAVAILABLE');
    assert.match(ended!.message, /streams last at most 4 s; open a new one/);
  });
});
