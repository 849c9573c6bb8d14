import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import type { RenderedEmail } from '../domain/templating.ts';
import type {
  BatchRecipient,
  ProviderName,
  ProviderUnavailableDetails,
  SendBatchInput,
  SendBatchResult,
} from '../domain/types.ts';
import { createLogger } from '../logger.ts';
import { CircuitBreaker } from '../providers/circuit-breaker.ts';
import { type EmailProvider, type MessageOutcome, ProviderError, type SendOptions } from '../providers/types.ts';
import { createDeliveryActivities } from './send-batch.ts';

type Behaviour = (messages: RenderedEmail[], options: SendOptions, call: number) => MessageOutcome[];

function fakeProvider(name: ProviderName, maxBatchSize: number, behaviour: Behaviour) {
  const calls: Array<{ to: string[]; key: string }> = [];
  const provider: EmailProvider = {
    name,
    maxBatchSize,
    sendBatch: (messages, options) => {
      calls.push({ to: messages.map((m) => m.to), key: options.idempotencyKey });
      return Promise.resolve().then(() => behaviour(messages, options, calls.length));
    },
  };
  return { provider, calls };
}

const sentAll: Behaviour = (messages) => messages.map((_, i) => ({ status: 'sent', messageId: `id-${i}` }));
const logger = createLogger('silent');

function input(n: number, provider: ProviderName = 'resend'): SendBatchInput {
  const recipients: BatchRecipient[] = Array.from({ length: n }, (_, i) => ({
    email: `u${i}@example.com`,
    name: `U${i}`,
    variables: {},
    recipientId: `r${i}`,
    position: i,
  }));
  return {
    newsletterId: 'nl1',
    batchIndex: 4,
    provider,
    content: { subject: 'Hi {{name}}', text: 'x', from: 'a@example.com', tags: {} },
    recipients,
    unsubscribeBaseUrl: 'https://app.example.com',
  };
}

function activities(provider: EmailProvider, breaker?: CircuitBreaker) {
  return createDeliveryActivities({
    providers: new Map([[provider.name, provider]]),
    breakers: new Map(breaker ? [[provider.name, breaker]] : []),
    logger,
  });
}

async function failure(promise: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, String(err));
    return err;
  }
  assert.fail('expected a failure');
}

describe('sendBatch', () => {
  it('splits a batch larger than the provider maximum into provider-sized calls with deterministic keys', async () => {
    const { provider, calls } = fakeProvider('resend', 100, sentAll);
    const result: SendBatchResult = await new MockActivityEnvironment().run(activities(provider).sendBatch, input(250));
    assert.deepEqual(calls.map((c) => c.to.length), [100, 100, 50]);
    assert.equal(result.results.length, 250);
    assert.ok(result.results.every((r) => r.status === 'sent' && r.provider === 'resend'));
    assert.deepEqual(calls.map((c) => c.key), [
      'nl-nl1-b4-resend-p0-99-n100',
      'nl-nl1-b4-resend-p100-199-n100',
      'nl-nl1-b4-resend-p200-249-n50',
    ]);

    const again = fakeProvider('resend', 100, sentAll);
    await new MockActivityEnvironment({ attempt: 3 }).run(activities(again.provider).sendBatch, input(250));
    assert.deepEqual(again.calls.map((c) => c.key), calls.map((c) => c.key), 'the same keys on a later attempt');
  });

  it('records permanent per-recipient rejections as failed results without failing the batch', async () => {
    const { provider } = fakeProvider(
      'postmark',
      500,
      (messages) =>
        messages.map((m, i) =>
          i === 1
            ? { status: 'failed', error: '406: inactive', failureClass: 'rejected_recipient' }
            : { status: 'sent', messageId: m.to }
        ),
    );
    const result: SendBatchResult = await new MockActivityEnvironment().run(
      activities(provider).sendBatch,
      input(3, 'postmark'),
    );
    assert.deepEqual(result.results.map((r) => r.status), ['sent', 'failed', 'sent']);
    assert.equal(result.results[1]!.error, '406: inactive');
  });

  it('asks Temporal to retry a server error on the same provider, then fails over when it persists', async () => {
    const down: Behaviour = () => {
      throw new ProviderError({ provider: 'resend', failureClass: 'transient', statusCode: 503, message: 'down' });
    };
    const first = await failure(
      new MockActivityEnvironment({ attempt: 1 }).run(
        activities(fakeProvider('resend', 100, down).provider).sendBatch,
        input(2),
      ),
    );
    assert.equal(first.nonRetryable, false);
    assert.equal(first.type, 'Provider_transient');
    const last = await failure(
      new MockActivityEnvironment({ attempt: 3 }).run(
        activities(fakeProvider('resend', 100, down).provider).sendBatch,
        input(2),
      ),
    );
    assert.equal(last.nonRetryable, true);
    assert.equal(last.type, 'ProviderUnavailable');
  });

  it('passes retry-after to Temporal as the next retry delay', async () => {
    const throttled: Behaviour = () => {
      throw new ProviderError({
        provider: 'resend',
        failureClass: 'rate_limited',
        statusCode: 429,
        message: 'slow down',
        retryAfterMs: 3000,
      });
    };
    const err = await failure(
      new MockActivityEnvironment().run(
        activities(fakeProvider('resend', 100, throttled).provider).sendBatch,
        input(2),
      ),
    );
    assert.equal(err.nonRetryable, false);
    assert.equal(err.nextRetryDelay, 3000);
  });

  it('fails over with the recipients already accepted, so the other provider sends only the rest', async () => {
    const { provider } = fakeProvider('resend', 2, (messages, _o, call) => {
      if (call === 1) return sentAll(messages, _o, call);
      throw new ProviderError({
        provider: 'resend',
        failureClass: 'provider_unavailable',
        statusCode: 401,
        message: 'bad key',
      });
    });
    const err = await failure(new MockActivityEnvironment().run(activities(provider).sendBatch, input(4)));
    assert.equal(err.type, 'ProviderUnavailable');
    const details = err.details?.[0] as ProviderUnavailableDetails;
    assert.deepEqual(details.done.map((r) => r.position), [0, 1]);
  });

  it('fails over without calling a provider whose circuit is open', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 60_000 });
    breaker.recordFailure();
    const { provider, calls } = fakeProvider('resend', 100, sentAll);
    const err = await failure(new MockActivityEnvironment().run(activities(provider, breaker).sendBatch, input(2)));
    assert.equal(err.type, 'ProviderUnavailable');
    assert.match(err.message, /circuit open/);
    assert.equal(calls.length, 0);
  });

  it('skips chunks settled by an earlier attempt (heartbeat details)', async () => {
    const { provider, calls } = fakeProvider('resend', 2, sentAll);
    const settled = [0, 1].map((position) => ({
      position,
      recipientId: `r${position}`,
      email: `u${position}@example.com`,
      status: 'sent' as const,
      provider: 'resend' as const,
      messageId: 'old',
    }));
    const result: SendBatchResult = await new MockActivityEnvironment({ heartbeatDetails: { settled } }).run(
      activities(provider).sendBatch,
      input(4),
    );
    assert.deepEqual(calls.map((c) => c.to), [['u2@example.com', 'u3@example.com']]);
    assert.deepEqual(result.results.map((r) => r.messageId), ['old', 'old', 'id-0', 'id-1']);
  });
});
