/**
 * createNewsletterClient against a stand-in gRPC server (grpc-js) that fails the way a
 * restarting bridge does. Runs under Node (`make test`) and Deno (`deno test` in contracts/).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import {
  type Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  status as grpcStatus,
} from '@grpc/grpc-js';
import type { IMessageType } from '@protobuf-ts/runtime';
import type { ServiceType } from '@protobuf-ts/runtime-rpc';
import {
  backoffMs,
  createNewsletterClient,
  NewsletterService,
  NewsletterState,
  RETRIED_METHODS,
  type SendNewsletterRequest,
  WorkflowService,
} from './index.ts';

type Handler = (call: ServerUnaryCall<object, object> | ServerWritableStream<object, object>) => unknown;

/** serve runs a grpc-js server for the given services; a method without a handler answers UNIMPLEMENTED. */
async function serve(handlers: Record<string, Handler>) {
  const server = new Server();
  for (const service of [NewsletterService, WorkflowService] as ServiceType[]) {
    const definition: Record<string, object> = {};
    const implementation: Record<string, unknown> = {};
    for (const method of service.methods) {
      const I = method.I as IMessageType<object>;
      const O = method.O as IMessageType<object>;
      definition[method.name] = {
        path: `/${service.typeName}/${method.name}`,
        requestStream: false,
        responseStream: method.serverStreaming,
        requestSerialize: (m: object) => Buffer.from(I.toBinary(m)),
        requestDeserialize: (b: Buffer) => I.fromBinary(b),
        responseSerialize: (m: object) => Buffer.from(O.toBinary(O.create(m))),
        responseDeserialize: (b: Buffer) => O.fromBinary(b),
      };
      const handler = handlers[method.name];
      implementation[method.name] = method.serverStreaming
        ? (call: ServerWritableStream<object, object>) => handler?.(call)
        : async (call: ServerUnaryCall<object, object>, callback: (err: unknown, value?: object) => void) => {
          try {
            callback(null, await handler!(call) as object);
          } catch (err) {
            callback(err);
          }
        };
    }
    server.addService(definition as never, implementation as never);
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)))
  );
  return { address: `127.0.0.1:${port}`, close: () => server.forceShutdown() };
}

const unavailable = (): ServiceError =>
  Object.assign(new Error('restarting'), {
    code: grpcStatus.UNAVAILABLE,
    details: 'restarting',
    metadata: undefined as unknown as Metadata,
  });

const status = (state: NewsletterState, sent: number) => ({
  status: { newsletterId: 'n1', state, totalRecipients: 2, sent, failed: 0, skipped: 0 },
});

const request = (): SendNewsletterRequest => ({
  newsletterId: 'n1',
  subject: 'Hi',
  htmlContent: '<p>Hi</p>',
  textContent: '',
  fromEmail: '',
  replyTo: '',
  recipients: [{ email: 'a@example.com', name: 'A', recipientId: 'r1', variables: {} }],
  tags: {},
});

describe('createNewsletterClient', () => {
  const calls: Record<string, number> = {};
  const tokens: string[] = [];
  const count = (name: string, call: { metadata: Metadata }) => {
    calls[name] = (calls[name] ?? 0) + 1;
    tokens.push(String(call.metadata.get('authorization')[0]));
    return calls[name];
  };
  let server: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    server = await serve({
      // The first answer is lost on the way (the send started): the retry finds it started.
      SendNewsletter: (call) => {
        if (count('SendNewsletter', call) === 1) throw unavailable();
        return { newsletterId: 'n1', workflowId: 'newsletter-n1', runId: 'r', alreadyExists: true };
      },
      GetNewsletterStatus: (call) => {
        if (count('GetNewsletterStatus', call) <= 2) throw unavailable();
        return status(NewsletterState.RUNNING, 1);
      },
      CancelNewsletter: (call) => {
        count('CancelNewsletter', call);
        throw unavailable();
      },
      ListSuppressions: (call) => {
        count('ListSuppressions', call);
        throw Object.assign(new Error('bad'), { code: grpcStatus.INVALID_ARGUMENT, details: 'limit: too large' });
      },
      // Never answers: only the deadline ends it.
      GetWorkflowResult: (call) => new Promise(() => count('GetWorkflowResult', call)),
      // The first stream sends one snapshot then its server goes away; the second runs to the end.
      WatchNewsletter: (call) => {
        const stream = call as ServerWritableStream<object, object>;
        if (count('WatchNewsletter', stream) === 1) {
          stream.write(status(NewsletterState.RUNNING, 1));
          setTimeout(() => stream.emit('error', unavailable()), 20);
          return;
        }
        stream.write(status(NewsletterState.RUNNING, 1));
        stream.write(status(NewsletterState.COMPLETED, 2));
        stream.end();
      },
    });
  });
  after(() => server?.close());
  const client = () => createNewsletterClient({ address: server.address, token: 's3cret', retries: 4 });

  it('sends the token as a bearer authorization on every call', async () => {
    const c = client();
    await c.newsletters.getNewsletterStatus({ newsletterId: 'n1' }).response.catch(() => {});
    c.close();
    assert.ok(tokens.length > 0);
    assert.ok(tokens.every((t) => t === 'Bearer s3cret'), tokens.join());
  });

  it('retries a status read through UNAVAILABLE until the server answers', async () => {
    calls.GetNewsletterStatus = 0;
    const c = client();
    const { response } = await c.newsletters.getNewsletterStatus({ newsletterId: 'n1' });
    c.close();
    assert.equal(response.status?.state, NewsletterState.RUNNING);
    assert.equal(calls.GetNewsletterStatus, 3);
  });

  it('retries SendNewsletter, which newsletter_id makes idempotent: the retry finds the send already started', async () => {
    const c = client();
    const { response } = await c.newsletters.sendNewsletter(request());
    c.close();
    assert.equal(calls.SendNewsletter, 2);
    assert.equal(response.alreadyExists, true);
    assert.equal(response.workflowId, 'newsletter-n1');
  });

  it('never retries a cancel, and never retries a refusal', async () => {
    const c = client();
    await assert.rejects(c.newsletters.cancelNewsletter({ newsletterId: 'n1', reason: '' }).response, {
      code: 'UNAVAILABLE',
    });
    await assert.rejects(c.newsletters.listSuppressions({ pageSize: 10, pageToken: '' }).response, {
      code: 'INVALID_ARGUMENT',
    });
    c.close();
    assert.equal(calls.CancelNewsletter, 1);
    assert.equal(calls.ListSuppressions, 1);
  });

  it('ends a unary call at its deadline (deadlineMs by default)', async () => {
    const c = createNewsletterClient({ address: server.address, deadlineMs: 300 });
    await assert.rejects(c.workflows.getWorkflowResult({ workflowId: 'w', runId: '', wait: true }).response, {
      code: 'DEADLINE_EXCEEDED',
    });
    c.close();
  });

  it('gives cancel, pause and resume 30 s more than deadlineMs: the server waits that long for batches in flight', async () => {
    // The server answers after the default deadline, as a cancel that waits for batches in flight does.
    const slow = () => new Promise((resolve) => setTimeout(() => resolve(status(NewsletterState.CANCELLED, 1)), 600));
    const waiting = await serve({ CancelNewsletter: slow, PauseNewsletter: slow, ResumeNewsletter: slow });
    const c = createNewsletterClient({ address: waiting.address, deadlineMs: 300 });
    try {
      const cancelled = await c.newsletters.cancelNewsletter({ newsletterId: 'n1', reason: '' }).response;
      assert.equal(cancelled.status?.state, NewsletterState.CANCELLED);
      await c.newsletters.pauseNewsletter({ newsletterId: 'n1' }).response;
      await c.newsletters.resumeNewsletter({ newsletterId: 'n1' }).response;
      // A call's own timeout still wins.
      await assert.rejects(
        c.newsletters.cancelNewsletter({ newsletterId: 'n1', reason: '' }, { timeout: 200 }).response,
        { code: 'DEADLINE_EXCEEDED' },
      );
    } finally {
      c.close();
      waiting.close();
    }
  });

  it('keeps a watch through a bridge restart of a few seconds by default: the caller sees the newsletter to its end', async () => {
    // The bridge is back 3 s after the stream broke (a rolling restart).
    const back = Date.now() + 3_000;
    let opened = 0;
    const restarting = await serve({
      WatchNewsletter: (call) => {
        const stream = call as ServerWritableStream<object, object>;
        opened += 1;
        if (Date.now() < back) {
          stream.emit('error', unavailable());
          return;
        }
        stream.write(status(NewsletterState.COMPLETED, 2));
        stream.end();
      },
    });
    const c = createNewsletterClient({ address: restarting.address });
    try {
      const seen: string[] = [];
      for await (const message of c.newsletters.watchNewsletter({ newsletterId: 'n1' }).responses) {
        seen.push(NewsletterState[message.status!.state]);
      }
      assert.deepEqual(seen, ['COMPLETED']);
      assert.ok(opened > 1);
    } finally {
      c.close();
      restarting.close();
    }
  });

  it('opens WatchNewsletter again when its stream ends UNAVAILABLE, and the caller sees it through to the end', async () => {
    const c = client();
    const seen: string[] = [];
    for await (const message of c.newsletters.watchNewsletter({ newsletterId: 'n1' }).responses) {
      seen.push(`${NewsletterState[message.status!.state]}:${message.status!.sent}`);
    }
    c.close();
    assert.deepEqual(seen, ['RUNNING:1', 'RUNNING:1', 'COMPLETED:2']);
    assert.equal(calls.WatchNewsletter, 2);
  });

  it('says which methods it retries: the safe ones only', () => {
    assert.deepEqual([...RETRIED_METHODS].map((m) => m.split('/')[1]).sort(), [
      'GetNewsletterStatus',
      'GetWorkflowResult',
      'ListSuppressions',
      'SendNewsletter',
      'WatchNewsletter',
    ]);
    for (const n of [1, 2, 5, 10]) {
      assert.equal(backoffMs(n, () => 1), Math.min(2_000, 100 * 2 ** (n - 1)));
      assert.equal(backoffMs(n, () => 0), 0);
    }
  });

  it('refuses an address that is not host:port', () => {
    assert.throws(() => createNewsletterClient({ address: 'http://localhost' }), /address: must be host:port/);
  });

  it('refuses a token a header cannot carry without naming it, and trims one as the server does', async () => {
    for (const token of ['s3cret\u0000x', 'sécret']) {
      assert.throws(
        () => createNewsletterClient({ address: server.address, token }),
        (err: unknown) => err instanceof TypeError && /token: /.test(err.message) && !err.message.includes('cret'),
      );
    }
    const before = tokens.length;
    const c = createNewsletterClient({ address: server.address, token: ' s3cret\n', retries: 4 });
    await c.newsletters.getNewsletterStatus({ newsletterId: 'n1' }).response.catch(() => {});
    c.close();
    assert.deepEqual(tokens.slice(before, before + 1), ['Bearer s3cret']);
  });

  it("keeps no listener per call on what outlives the call (the client, the caller's signal): a long-lived client does not grow", async () => {
    const added = new Map<EventTarget, number>();
    const { addEventListener, removeEventListener } = EventTarget.prototype;
    const net = (target: EventTarget, n: number) => added.set(target, (added.get(target) ?? 0) + n);
    EventTarget.prototype.addEventListener = function (
      this: EventTarget,
      ...args: Parameters<typeof addEventListener>
    ) {
      if (args[0] === 'abort') net(this, 1);
      return addEventListener.apply(this, args);
    };
    EventTarget.prototype.removeEventListener = function (
      this: EventTarget,
      ...args: Parameters<typeof removeEventListener>
    ) {
      if (args[0] === 'abort') net(this, -1);
      return removeEventListener.apply(this, args);
    };
    const c = createNewsletterClient({ address: server.address, retries: 4 });
    const caller = new AbortController();
    try {
      for (let i = 0; i < 30; i++) {
        await c.newsletters.getNewsletterStatus({ newsletterId: 'n1' }).response;
        await c.newsletters.getNewsletterStatus({ newsletterId: 'n1' }, { abort: caller.signal }).response;
        await c.newsletters.cancelNewsletter({ newsletterId: 'n1', reason: '' }).response.catch(() => {});
      }
    } finally {
      EventTarget.prototype.addEventListener = addEventListener;
      EventTarget.prototype.removeEventListener = removeEventListener;
      c.close();
    }
    const most = Math.max(...added.values());
    assert.ok(most <= 2, `one signal kept ${most} abort listeners after 90 calls`);
  });
});

describe('createNewsletterClient cancelled or closed while it retries', () => {
  let attempts = 0;
  let endWatch = () => {};
  const watchEnded = new Promise<void>((resolve) => (endWatch = resolve));
  let server: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    server = await serve({
      // A bridge that stays down: every attempt answers UNAVAILABLE.
      GetNewsletterStatus: () => {
        attempts++;
        throw unavailable();
      },
      // A watch that stays open until its caller goes away.
      WatchNewsletter: (call) => {
        const stream = call as ServerWritableStream<object, object>;
        stream.on('cancelled', () => endWatch());
        stream.write(status(NewsletterState.RUNNING, 1));
      },
    });
  });
  after(() => server?.close());
  const client = () => createNewsletterClient({ address: server.address, retries: 50, deadlineMs: 30_000 });
  const settledWithin = <T>(promise: Promise<T>, ms: number) =>
    Promise.race([
      promise.then(() => 'resolved', (err: { code?: string }) => `rejected ${err.code}`),
      new Promise<string>((resolve) => setTimeout(() => resolve('pending'), ms)),
    ]);

  it('ends a call closed during its retry wait CANCELLED, without an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const record = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', record);
    try {
      const c = client();
      const { response } = c.newsletters.getNewsletterStatus({ newsletterId: 'n1' });
      await new Promise((resolve) => setTimeout(resolve, 150));
      c.close();
      assert.equal(await settledWithin(response, 2_000), 'rejected CANCELLED');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', record);
    }
  });

  it('stops a call its caller aborts during the retry wait: CANCELLED, and no attempt after it', async () => {
    const c = client();
    const abort = new AbortController();
    const { response } = c.newsletters.getNewsletterStatus({ newsletterId: 'n1' }, { abort: abort.signal });
    await new Promise((resolve) => setTimeout(resolve, 150));
    abort.abort();
    const before = attempts;
    assert.equal(await settledWithin(response, 2_000), 'rejected CANCELLED');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.ok(attempts <= before + 1, `${attempts - before} attempts after the abort`);
    c.close();
  });

  it('cancels a watch whose caller breaks out of its loop: the server sees the call end', async () => {
    const c = client();
    const stream = c.newsletters.watchNewsletter({ newsletterId: 'n1' });
    for await (const message of stream.responses) {
      assert.equal(message.status?.sent, 1);
      break;
    }
    assert.match(await settledWithin(stream.status, 2_000), /^rejected CANCELLED$/);
    assert.equal(await settledWithin(watchEnded, 2_000), 'resolved');
    c.close();
  });

  it('ends an open watch when the client is closed', async () => {
    const c = client();
    const stream = c.newsletters.watchNewsletter({ newsletterId: 'n1' });
    const first = await stream.responses[Symbol.asyncIterator]().next();
    assert.equal(first.value?.status?.sent, 1);
    c.close();
    assert.match(await settledWithin(stream.status, 2_000), /^rejected CANCELLED$/);
  });
});

describe('createNewsletterClient watching with a timeout of its own', () => {
  let opened = 0;
  let server: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    server = await serve({
      // Each stream sends a snapshot, then its bridge goes away: every reopen gets one message.
      WatchNewsletter: (call) => {
        opened++;
        const stream = call as ServerWritableStream<object, object>;
        stream.write(status(NewsletterState.RUNNING, 1));
        setTimeout(() => stream.emit('error', unavailable()), 100);
      },
    });
  });
  after(() => server?.close());

  it("ends a watch at the caller's timeout, counted from the first call, not again from each reopen", async () => {
    const c = createNewsletterClient({ address: server.address, retries: 50 });
    const stream = c.newsletters.watchNewsletter({ newsletterId: 'n1' }, { timeout: 700 });
    const ended = (async () => {
      try {
        for await (const _ of stream.responses) { /* snapshots */ }
        return 'completed';
      } catch (err) {
        return `failed ${(err as { code?: string }).code}`;
      }
    })();
    const outcome = await Promise.race([
      ended,
      new Promise((resolve) => setTimeout(() => resolve('still open'), 4_000)),
    ]);
    c.close();
    assert.match(String(outcome), /^failed (DEADLINE_EXCEEDED|UNAVAILABLE)$/);
    assert.ok(opened <= 8, `${opened} streams opened in 700 ms`);
  });
});
