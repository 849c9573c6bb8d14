import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RpcInputStream, ServerCallContext } from '@protobuf-ts/runtime-rpc';
import type { WatchNewsletterResponse } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import type { NewsletterStatus } from '../domain/types.ts';
import { ShuttingDownError, StreamLifetimeError, toRpcStatus } from './errors.ts';
import { createNewsletterService } from './newsletter-service.ts';
import type { NewsletterGateway } from './temporal-gateway.ts';

const running: NewsletterStatus = {
  newsletterId: 'n1',
  state: 'RUNNING',
  totalRecipients: 2,
  sent: 0,
  failed: 0,
  skipped: 0,
  batchesTotal: 1,
  batchesCompleted: 0,
  sentByProvider: {},
  failures: [],
  startTime: '2026-11-27T00:00:00Z',
  callbacksOwed: 0,
  recipientsComplete: true,
};

describe('WatchNewsletter', () => {
  it('ends a stream at its lifetime also while the caller reads nothing (its writes wait for ever)', async () => {
    const gateway = { status: () => Promise.resolve(running) } as unknown as NewsletterGateway;
    const service = createNewsletterService(gateway, {} as never, { watchLifetimeMs: 200 });
    // A caller that stopped reading: HTTP/2 flow control holds every write.
    const stuck = {
      send: () => new Promise<void>(() => {}),
      complete: () => Promise.resolve(),
    } as unknown as RpcInputStream<WatchNewsletterResponse>;
    const context = { cancelled: false, onCancel: () => () => {} } as unknown as ServerCallContext;
    const ended = service.watchNewsletter({ newsletterId: 'n1' }, stuck, context);
    const outcome = await Promise.race([
      ended.then(() => 'completed', (err) => err),
      new Promise((resolve) => setTimeout(() => resolve('still open after 2 s'), 2_000)),
    ]);
    assert.ok(outcome instanceof StreamLifetimeError, String(outcome));
  });

  it('ends an open stream when the bridge begins to shut down, with an error clients retry (UNAVAILABLE)', async () => {
    const gateway = { status: () => Promise.resolve(running) } as unknown as NewsletterGateway;
    const closing = new AbortController();
    const service = createNewsletterService(gateway, {} as never, { watchLifetimeMs: 60_000 }, closing.signal);
    const sent: unknown[] = [];
    const reading = {
      send: (m: unknown) => Promise.resolve(void sent.push(m)),
      complete: () => Promise.resolve(),
    } as unknown as RpcInputStream<WatchNewsletterResponse>;
    const context = { cancelled: false, onCancel: () => () => {} } as unknown as ServerCallContext;
    const ended = service.watchNewsletter({ newsletterId: 'n1' }, reading, context);
    await new Promise((resolve) => setTimeout(resolve, 50));
    closing.abort();
    const outcome = await Promise.race([
      ended.then(() => 'completed', (err) => err),
      new Promise((resolve) => setTimeout(() => resolve('still open after 2 s'), 2_000)),
    ]);
    assert.ok(outcome instanceof ShuttingDownError, String(outcome));
    assert.equal(toRpcStatus(outcome).code, 'UNAVAILABLE');
    assert.equal(sent.length, 1, 'the status before the shutdown reached the caller');
  });
});
