import { describe, it } from 'node:test';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import type { BridgeMetrics } from '../telemetry/metrics.ts';
import { startWebhookServer } from './server.ts';

/** config is a webhook server on a free loopback port taking Postmark webhooks as pm:secret. */
const config = loadConfig({
  GRPC_HOST: '127.0.0.1',
  WEBHOOK_PORT: '0',
  POSTMARK_WEBHOOK_USER: 'pm',
  POSTMARK_WEBHOOK_PASSWORD: 'secret',
});

/** toPostmark posts a body to a webhook server's Postmark endpoint with basic auth (pm and this password). */
const toPostmark = (port: number, body: string, password = 'secret') =>
  fetch(`http://127.0.0.1:${port}/webhooks/postmark`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`pm:${password}`).toString('base64')}` },
    body,
  });

/** delivery is a Postmark Delivery record about one of this service's emails. */
const delivery = {
  RecordType: 'Delivery',
  MessageID: 'm-1',
  Recipient: 'a@example.com',
  DeliveredAt: new Date().toISOString(),
  Metadata: { newsletter_id: 'nl1', recipient_id: 'r1' },
};

/**
 * fakeTemporal is the client a webhook server hands events to: describe answers as told (a
 * newsletter without a trace by default), each hand-off takes handOffMs; seen counts hand-offs
 * and keeps the addresses suppressed.
 */
function fakeTemporal(
  options: { describe?: () => Promise<unknown>; handOffMs?: number; handOffFails?: boolean } = {},
) {
  const seen = { signalled: 0, suppressed: [] as string[] };
  const client = {
    withDeadline: <T>(_deadline: number, run: () => Promise<T>) => run(),
    workflow: {
      getHandle: () => ({ describe: options.describe ?? (() => Promise.resolve({ memo: {} })) }),
      signalWithStart: () =>
        new Promise((resolve) => setTimeout(resolve, options.handOffMs ?? 0)).then(() => {
          if (options.handOffFails) throw new Error('Temporal unavailable');
          seen.signalled += 1;
        }),
      executeUpdateWithStart: (_update: unknown, { args }: { args: [Array<{ email: string }>] }) => {
        seen.suppressed.push(...args[0].map((entry) => entry.email));
        return Promise.resolve(1);
      },
    },
  } as unknown as Client;
  return { client, seen };
}

describe('webhook server shutdown', () => {
  it('answers a webhook still being handed to Temporal when it is closed, instead of cutting it off', async () => {
    // Temporal takes 500 ms to take the event.
    const { client, seen } = fakeTemporal({ handOffMs: 500 });
    const server = await startWebhookServer({ config, client, logger: createLogger('silent') });
    const answer = toPostmark(server.port, JSON.stringify(delivery));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closed = server.close();
    const response = await answer;
    assert.equal(response.status, 200);
    assert.equal(seen.signalled, 1);
    await closed;
  });
});

describe('webhook server tracing', () => {
  /** hookWith posts one Postmark Delivery record to a webhook server whose describe rejects with err: its status, and whether it was handed off. */
  const hookWith = async (err: Error) => {
    const { client, seen } = fakeTemporal({ describe: () => Promise.reject(err) });
    const server = await startWebhookServer({ config, client, logger: createLogger('silent') });
    try {
      const response = await toPostmark(
        server.port,
        JSON.stringify({
          RecordType: 'Delivery',
          MessageID: 'm-2',
          Recipient: 'b@example.com',
          DeliveredAt: new Date().toISOString(),
          Metadata: { newsletter_id: 'nl2', recipient_id: 'r2' },
        }),
      );
      return { status: response.status, signalled: seen.signalled };
    } finally {
      await server.close();
    }
  };
  const grpcError = (code: number, details: string) =>
    Object.assign(new Error(details), { code, details, metadata: {} });

  it('asks the provider to send again when Temporal cannot say which trace the newsletter is in, rather than start its events outside it', async () => {
    // What the client's describe rejects with when Temporal does not answer in time.
    assert.deepEqual(await hookWith(grpcError(4, 'deadline exceeded')), { status: 503, signalled: 0 });
  });

  it('hands events over outside the trace when Temporal answers it may not say (a key that may signal, not describe)', async () => {
    assert.deepEqual(await hookWith(grpcError(7, 'permission denied')), { status: 200, signalled: 1 });
  });
});

describe('webhook server authentication', () => {
  it('refuses a Resend webhook without its signature headers, or signed more than 5 minutes from now, before reading its body', async () => {
    const client = { withDeadline: () => Promise.reject(new Error('not reached')) } as unknown as Client;
    const resend = loadConfig({
      GRPC_HOST: '127.0.0.1',
      WEBHOOK_PORT: '0',
      RESEND_WEBHOOK_SECRET: `whsec_${Buffer.from('a signing secret').toString('base64')}`,
    });
    const server = await startWebhookServer({ config: resend, client, logger: createLogger('silent') });
    /** headersOnly sends headers, announcing a body that never comes: answered at once, the connection is not held. */
    const headersOnly = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = request({
          host: '127.0.0.1',
          port: server.port,
          path: '/webhooks/resend',
          method: 'POST',
          headers: { 'content-length': String(1024 * 1024), ...headers },
        }, (res) => resolve(res.statusCode!));
        req.on('error', reject);
        req.flushHeaders();
      });
    const signed = (offsetS: number) => ({
      'svix-id': 'msg_1',
      'svix-timestamp': String(Math.floor(Date.now() / 1000) + offsetS),
      'svix-signature': 'v1,AAAA',
    });
    try {
      assert.equal(await headersOnly({}), 401);
      assert.equal(await headersOnly(signed(-10 * 60)), 401, 'replayed: signed 10 minutes ago');
      assert.equal(await headersOnly(signed(10 * 60)), 401, 'signed 10 minutes ahead');
    } finally {
      await server.close();
    }
  });

  it('acknowledges and drops an event naming a newsletter id this service could never have given (another sender on the account)', async () => {
    const { client, seen } = fakeTemporal();
    const server = await startWebhookServer({ config, client, logger: createLogger('silent') });
    try {
      const delivery = (newsletterId: string) =>
        toPostmark(
          server.port,
          JSON.stringify({
            RecordType: 'Delivery',
            MessageID: 'm-3',
            Recipient: 'c@example.com',
            DeliveredAt: new Date().toISOString(),
            Metadata: { newsletter_id: newsletterId },
          }),
        );
      const other = await delivery('weird id/with:colon');
      assert.equal(other.status, 200);
      assert.match(await other.text(), /ignored/);
      assert.equal(seen.signalled, 0);
      assert.equal((await delivery('nl-3')).status, 200);
      assert.equal(seen.signalled, 1);
    } finally {
      await server.close();
    }
  });

  it('refuses a Postmark webhook with wrong credentials before reading its body: 401, not 413 for its size', async () => {
    const client = { withDeadline: () => Promise.reject(new Error('not reached')) } as unknown as Client;
    const server = await startWebhookServer({ config, client, logger: createLogger('silent') });
    try {
      const response = await toPostmark(server.port, 'x'.repeat(2 * 1024 * 1024), 'wrong');
      assert.equal(response.status, 401);
    } finally {
      await server.close();
    }
  });

  it("takes an authenticated Postmark bounce whose record carries the bounced message (Include bounce content), up to the size of Postmark's largest email", async () => {
    const { client, seen } = fakeTemporal();
    const server = await startWebhookServer({ config, client, logger: createLogger('silent') });
    const bounce = (content: string) =>
      toPostmark(
        server.port,
        JSON.stringify({
          RecordType: 'Bounce',
          ID: 42,
          Type: 'HardBounce',
          Inactive: true,
          MessageID: 'm-1',
          Email: 'gone@example.com',
          BouncedAt: new Date().toISOString(),
          Metadata: { newsletter_id: 'nl1', recipient_id: 'r1' },
          Content: content,
        }),
      );
    try {
      // A 5 MB newsletter quoted in its bounce report: retried with the same size, a 413 would drop it for good.
      assert.equal((await bounce('x'.repeat(5 * 1024 * 1024))).status, 200);
      assert.deepEqual(seen.suppressed, ['gone@example.com']);
      assert.equal(seen.signalled, 1);
      assert.equal((await bounce('x'.repeat(17 * 1024 * 1024))).status, 413, 'beyond any email Postmark sends');
    } finally {
      await server.close();
    }
    // Resend's events carry no content, and are read before they can be verified: 1 MiB is plenty.
    const withResend = loadConfig({
      GRPC_HOST: '127.0.0.1',
      WEBHOOK_PORT: '0',
      RESEND_WEBHOOK_SECRET: `whsec_${Buffer.from('resend-secret').toString('base64')}`,
    });
    const resendServer = await startWebhookServer({ config: withResend, client, logger: createLogger('silent') });
    try {
      const resend = await fetch(`http://127.0.0.1:${resendServer.port}/webhooks/resend`, {
        method: 'POST',
        // Its signature headers, as anyone can write them: only the body can show they do not verify.
        headers: {
          'svix-id': 'msg_1',
          'svix-timestamp': String(Math.floor(Date.now() / 1000)),
          'svix-signature': 'v1,AAAA',
        },
        body: 'x'.repeat(2 * 1024 * 1024),
      });
      assert.equal(resend.status, 413);
    } finally {
      await resendServer.close();
    }
  });

  /** rawConnection opens a TCP connection to port; ended resolves with everything the server sent once it closes it. */
  const rawConnection = async (port: number) => {
    const socket: Socket = connect(port, '127.0.0.1');
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    const ended = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
    socket.on('error', () => {}); // a dropped connection resets: ended tells it
    return { socket, ended };
  };

  it('answers 408 to a client that sends its request too slowly and closes its connection, handing nothing on', async () => {
    const { client, seen } = fakeTemporal();
    const outcomes: string[] = [];
    const metrics = {
      webhook: (_provider: string, outcome: string) => outcomes.push(outcome),
    } as unknown as BridgeMetrics;
    const limits = { headersMs: 300, requestMs: 600, max: 10 };
    const server = await startWebhookServer({ config, client, logger: createLogger('silent'), metrics, limits });
    try {
      const { socket, ended } = await rawConnection(server.port);
      const auth = Buffer.from('pm:secret').toString('base64');
      // Admitted (its credentials are good), then a tenth of its body, and nothing more.
      socket.write(
        `POST /webhooks/postmark HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${auth}\r\nContent-Length: 100\r\n\r\n{"Record`,
      );
      const started = Date.now();
      const answer = await ended;
      assert.match(answer, /^HTTP\/1\.1 408/);
      assert.ok(Date.now() - started < 5_000, 'closed soon after its time was up');
      assert.equal(seen.signalled, 0);
      assert.deepEqual(outcomes, ['aborted']);
    } finally {
      await server.close();
    }
  });

  it('counts a webhook Temporal failed to take as retry, not aborted, when the provider hung up while it waited', async () => {
    const { client } = fakeTemporal({ handOffMs: 400, handOffFails: true });
    const outcomes: string[] = [];
    const metrics = {
      webhook: (_provider: string, outcome: string) => outcomes.push(outcome),
    } as unknown as BridgeMetrics;
    const server = await startWebhookServer({ config, client, logger: createLogger('silent'), metrics });
    try {
      const { socket, ended } = await rawConnection(server.port);
      const auth = Buffer.from('pm:secret').toString('base64');
      const body = JSON.stringify(delivery);
      socket.write(
        `POST /webhooks/postmark HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${auth}\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      // The whole request is in; the provider gives up waiting before Temporal answers.
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.destroy();
      await ended;
      for (let tries = 0; outcomes.length === 0 && tries < 30; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.deepEqual(outcomes, ['retry'], 'a Temporal failure: the provider will send it again');
    } finally {
      await server.close();
    }
  });

  it('drops a connection beyond its limit of open connections, and takes new ones once one closes', async () => {
    const { client, seen } = fakeTemporal();
    const limits = { headersMs: 5_000, requestMs: 10_000, max: 1 };
    const server = await startWebhookServer({ config, client, logger: createLogger('silent'), limits });
    try {
      const first = await rawConnection(server.port);
      const second = await rawConnection(server.port);
      assert.equal(await second.ended, '', 'dropped without an answer');
      first.socket.destroy();
      await first.ended;
      // The server counts the first closed once its side of it has closed too: a moment later.
      let status = 0;
      for (let tries = 0; status !== 200 && tries < 20; tries++) {
        status = (await toPostmark(server.port, JSON.stringify(delivery)).catch(() => undefined))?.status ?? 0;
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(status, 200);
      assert.equal(seen.signalled, 1);
    } finally {
      await server.close();
    }
  });
});
