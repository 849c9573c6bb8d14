import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it, mock } from 'node:test';
import Mustache from 'mustache';
import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { type MockProviders, startMockProviders } from '../../mock-providers/server.ts';
import type { BackendClient } from '../backend/client.ts';
import type { Suppression } from '../domain/suppression.ts';
import type { RenderedEmail } from '../domain/templating.ts';
import type {
  BatchOutcome,
  NewsletterInput,
  ProviderName,
  ProviderUnavailableDetails,
  Recipient,
  RequestTooLargeDetails,
  ResultsEvent,
  SendBatchInput,
  ThrottledDetails,
} from '../domain/types.ts';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { createLogger } from '../logger.ts';
import { setupTracing, type Tracing } from '../telemetry/tracing.ts';
import type { DeliveryMetrics } from '../telemetry/metrics.ts';
import { CircuitBreaker } from '../providers/circuit-breaker.ts';
import { RETRY_ATTEMPTS } from '../providers/failures.ts';
import { createPostmarkProvider } from '../providers/postmark/index.ts';
import { createResendProvider } from '../providers/resend/index.ts';
import { type EmailProvider, type MessageOutcome, ProviderError, type SendOptions } from '../providers/types.ts';
import {
  createDeliveryActivities,
  type DeliveryDeps,
  isInDoubt,
  memberKey,
  progressOf,
  render,
  type SuppressionChecker,
  withJitter,
} from './send-batch.ts';
import type { BatchSource } from './sources.ts';
import { DirectResults } from './callbacks.ts';

type Behaviour = (messages: RenderedEmail[], options: SendOptions, call: number) => MessageOutcome[];

function fakeProvider(name: ProviderName, behaviour: Behaviour) {
  const calls: Array<{ to: string[]; key: string }> = [];
  const provider: EmailProvider = {
    name,
    maxBatchSize: 100,
    sendBatch: (messages, options) => {
      calls.push({ to: messages.map((m) => m.to), key: options.idempotencyKey });
      return Promise.resolve().then(() => behaviour(messages, options, calls.length));
    },
  };
  return { provider, calls };
}

const sentAll: Behaviour = (messages) => messages.map((_, i) => ({ status: 'sent', messageId: `id-${i}` }));
const logger = createLogger('silent');

const people = (n: number): Recipient[] =>
  Array.from(
    { length: n },
    (_, i) => ({ email: `u${i}@example.com`, name: `U${i}`, variables: {}, recipientId: `r${i}` }),
  );

const definition: NewsletterInput = {
  newsletterId: 'nl1',
  content: { subject: 'Hi {{name}}', text: 'x', from: 'a@example.com', tags: {} },
  recipients: [],
  batchSize: 100,
  concurrency: 1,
  primaryProvider: 'resend',
  unsubscribeBaseUrl: 'https://app.example.com',
};

/** sourceOf serves the batch from pages: one list per call (a page that changes between attempts). */
function sourceOf(...pages: Recipient[][]): BatchSource {
  let call = 0;
  return {
    definition: () => Promise.resolve(definition),
    page: () => Promise.reject(new Error('not used')),
    forget: () => {},
    recipients: () => Promise.resolve(pages[Math.min(call++, pages.length - 1)]!),
  };
}

function backendRecorder(): { client: BackendClient; results: ResultsEvent[] } {
  const results: ResultsEvent[] = [];
  return {
    results,
    client: {
      enabled: true,
      postStatus: () => Promise.resolve(),
      postResults: (event) => {
        results.push(event);
        return Promise.resolve();
      },
      postEvents: () => Promise.resolve(),
      fetchRecipientPage: () => Promise.reject(new Error('not used')),
    },
  };
}

function input(count: number, extra: Partial<SendBatchInput> = {}): SendBatchInput {
  return {
    ref: { workflowId: 'newsletter-nl1', runId: 'run-1' },
    newsletterId: 'nl1',
    batch: { index: 4, count },
    provider: 'resend',
    failoverTo: 'postmark',
    failureSlots: 100,
    ...extra,
  };
}

function activities(
  provider: EmailProvider,
  options: {
    source?: BatchSource;
    breaker?: CircuitBreaker;
    backend?: BackendClient;
    suppressions?: () => SuppressionChecker;
    suppress?: (entries: Suppression[]) => Promise<unknown>;
    metrics?: DeliveryMetrics;
    paceMs?: DeliveryDeps['paceMs'];
  } = {},
) {
  return createDeliveryActivities({
    ...(options.paceMs ? { paceMs: options.paceMs } : {}),
    ...(options.suppress ? { suppress: options.suppress } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.suppressions ? { suppressions: options.suppressions } : {}),
    providers: new Map([[provider.name, provider]]),
    breakers: new Map(options.breaker ? [[provider.name, options.breaker]] : []),
    source: options.source ?? sourceOf(people(10)),
    callbacks: {
      backend: options.backend ?? backendRecorder().client,
      logger,
      handoff: {
        start: () => Promise.resolve(true),
        exists: () => Promise.resolve(false),
        running: () => Promise.resolve(0),
      },
      direct: new DirectResults(1_000),
    },
    logger,
  });
}

/** recordingMetrics records the emails and provider calls an activity counts. */
function recordingMetrics() {
  const counted: string[] = [];
  const calls: string[] = [];
  const noop = () => {};
  const metrics: DeliveryMetrics = {
    providerCall: (provider, outcome) => calls.push(`${provider}:${outcome}`),
    emails: (_provider, result, errorClass, count) => {
      for (let i = 0; i < count; i++) counted.push(`${result}:${errorClass}`);
    },
    failover: noop,
    rateLimitWait: noop,
    batchStarted: () => noop,
    circuitState: noop,
    callback: noop,
    deliveryEvent: noop,
    newsletterStarted: noop,
    newsletterFinished: noop,
  };
  return { metrics, counted, calls };
}

/** heartbeatsOf collects every heartbeat details an attempt records. */
function heartbeatsOf(env: MockActivityEnvironment): unknown[] {
  const beats: unknown[] = [];
  env.on('heartbeat', (details: unknown) => beats.push(details));
  return beats;
}

/** listing is a suppression list holding these addresses. */
function listing(...emails: string[]): () => SuppressionChecker {
  const entry = (email: string): Suppression => ({ email, reason: 'manual', source: 'api', createdAt: '2026-11-01' });
  return () => ({
    among: (asked: string[]) =>
      Promise.resolve(new Map(asked.filter((e) => emails.includes(e)).map((e) => [e, entry(e)]))),
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
  it('sends the batch in one request with a deterministic key, reports every result to the backend, returns counts', async () => {
    const { provider, calls } = fakeProvider('resend', sentAll);
    const backend = backendRecorder();
    const outcome: BatchOutcome = await new MockActivityEnvironment().run(
      activities(provider, { backend: backend.client }).sendBatch,
      input(10),
    );
    assert.deepEqual(calls.map((c) => [c.to.length, c.key]), [[10, 'nl-nl1-b4-resend']]);
    assert.deepEqual(outcome, { provider: 'resend', sent: 10, failed: 0, failures: [], resultsOwed: false });
    assert.equal(backend.results.length, 1);
    assert.equal(backend.results[0]!.event_id, 'nl1:results:b4-resend');
    assert.deepEqual(backend.results[0]!.results.map((r) => [r.recipient_id, r.status, r.message_id]).slice(0, 2), [
      ['r0', 'sent', 'id-0'],
      ['r1', 'sent', 'id-1'],
    ]);
  });

  describe('on a paced provider', () => {
    /**
     * leaves runs one request whose page takes readMs to read, and says how long after the activity began its
     * read ended and its request left. The checks compare the two (never early; not a whole pace after the
     * read), with room for a loaded machine's timers to fire late.
     */
    async function leaves(readMs: number, paceMs: number, waitedMs: number): Promise<{ read: number; left: number }> {
      const { provider } = fakeProvider('resend', sentAll);
      const times = { read: -1, left: -1 };
      let begun = 0;
      const timed: EmailProvider = {
        ...provider,
        sendBatch: (messages, options) => {
          times.left = performance.now() - begun;
          return provider.sendBatch(messages, options);
        },
      };
      const source = sourceOf(people(10));
      const slow: BatchSource = {
        ...source,
        recipients: (ref, batch) =>
          delay(readMs).then(() => {
            times.read = performance.now() - begun;
            return source.recipients(ref, batch);
          }),
      };
      const send = activities(timed, { paceMs: { resend: paceMs }, source: slow }).sendBatch;
      const env = new MockActivityEnvironment({ currentAttemptScheduledTimestampMs: Date.now() - waitedMs });
      begun = performance.now();
      const outcome: BatchOutcome = await env.run(send, input(10));
      assert.equal(outcome.sent, 10);
      return times;
    }

    it('a request that waited for its dispatch leaves paceMs after its activity began, not paceMs after its read', async () => {
      const { read, left } = await leaves(250, 400, 1_000);
      // A timer may fire a few ms early (the event loop's cached time): the bound leaves room for it.
      assert.ok(left >= 390, `left ${left} ms after the activity began: before its pace of 400`);
      // Paced from its read, it would leave 400 ms after it; from its start, 150 (and a late timer's delay).
      assert.ok(left - read < 350, `left ${left - read} ms after its read ended: paced from the read (pace 400)`);
    });

    it('one whose read took longer than paceMs leaves as soon as it is ready', async () => {
      const { read, left } = await leaves(500, 250, 1_000);
      assert.ok(left >= 490, `left ${left} ms after the activity began, before its read of 500 ended`);
      assert.ok(left - read < 200, `left ${left - read} ms after its read ended (pace 250): it waited again`);
    });

    it('one dispatched at once (its queue below the rate) leaves at once: the window bounds it, not the rate', async () => {
      const { left } = await leaves(0, 1_000, 0);
      assert.ok(left < 500, `left ${left} ms after the activity began (pace 1,000, not waited)`);
    });
  });

  it('sends only the positions other providers left, under a key naming them', async () => {
    const { provider, calls } = fakeProvider('resend', sentAll);
    const outcome: BatchOutcome = await new MockActivityEnvironment().run(
      activities(provider).sendBatch,
      input(10, { positions: [3, 4, 7] }),
    );
    assert.deepEqual(calls.map((c) => [c.to, c.key]), [[
      ['u3@example.com', 'u4@example.com', 'u7@example.com'],
      'nl-nl1-b4-resend-p3-7-n3',
    ]]);
    assert.equal(outcome.sent, 3);
  });

  it('records permanent per-recipient rejections as failed, keeping at most failureSlots in the sample', async () => {
    const { provider } = fakeProvider(
      'resend',
      (messages) =>
        messages.map((m, i) =>
          i < 3
            ? { status: 'failed', error: `invalid ${m.to}`, failureClass: 'rejected_recipient' }
            : { status: 'sent', messageId: `id-${i}` }
        ),
    );
    const outcome: BatchOutcome = await new MockActivityEnvironment().run(
      activities(provider).sendBatch,
      input(10, { failureSlots: 2 }),
    );
    assert.equal(outcome.sent, 7);
    assert.equal(outcome.failed, 3);
    assert.deepEqual(outcome.failures.map((f) => f.recipientId), ['r0', 'r1']);
  });

  it('checks addresses read from a backend page and never sends an invalid one', async () => {
    const { provider, calls } = fakeProvider('resend', sentAll);
    const page = [...people(2), { email: 'not an address', name: '', variables: {}, recipientId: 'bad' }];
    const outcome: BatchOutcome = await new MockActivityEnvironment().run(
      activities(provider, { source: sourceOf(page) }).sendBatch,
      input(3),
    );
    assert.deepEqual(calls[0]!.to, ['u0@example.com', 'u1@example.com']);
    assert.deepEqual([outcome.sent, outcome.failed, outcome.failures[0]!.recipientId], [2, 1, 'bad']);
  });

  it('asks Temporal to retry a server error on the same provider, then fails over with every position left', async () => {
    const { provider } = fakeProvider('resend', () => {
      throw new ProviderError({ provider: 'resend', failureClass: 'transient', statusCode: 503, message: 'down' });
    });
    const first = new MockActivityEnvironment({ attempt: 1 });
    const beats = heartbeatsOf(first);
    const source = sourceOf(people(4));
    const retry = await failure(first.run(activities(provider, { source }).sendBatch, input(4)));
    assert.equal(retry.nonRetryable, false);
    assert.deepEqual(
      beats.at(-1),
      { phase: 'unsent', attempt: 1 },
      'a definite refusal is recorded for the next attempt',
    );
    // Attempt 3, after attempt 2 was refused too (its record is what Temporal hands over).
    const over = await failure(
      new MockActivityEnvironment({ attempt: 3, heartbeatDetails: { phase: 'unsent', attempt: 2 } }).run(
        activities(provider, { source }).sendBatch,
        input(4),
      ),
    );
    assert.equal(over.type, 'ProviderUnavailable');
    assert.equal(over.nonRetryable, true);
    const details = over.details?.[0] as ProviderUnavailableDetails;
    assert.deepEqual(details.remaining, [0, 1, 2, 3]);
    assert.equal(details.settled.sent, 0);
  });

  it("never names a recipient in a failure: the provider's words about the whole request are masked too (they reach history and logs)", async () => {
    const refusing = (failureClass: 'transient' | 'provider_unavailable') =>
      fakeProvider('resend', () => {
        throw new ProviderError({
          provider: 'resend',
          failureClass,
          statusCode: 422,
          message: 'cannot send to dora@example.com',
        });
      }).provider;
    const retried = await failure(
      new MockActivityEnvironment({ attempt: 1 }).run(
        activities(refusing('transient'), { source: sourceOf(people(2)) }).sendBatch,
        input(2),
      ),
    );
    assert.match(retried.message, /cannot send to <address>$/);
    const over = await failure(
      new MockActivityEnvironment({ attempt: 1 }).run(
        activities(refusing('provider_unavailable'), { source: sourceOf(people(2)) }).sendBatch,
        input(2),
      ),
    );
    assert.equal(over.type, 'ProviderUnavailable');
    assert.ok(!JSON.stringify([over.message, over.details]).includes('dora@'), over.message);
    assert.match((over.details?.[0] as ProviderUnavailableDetails).reason, /<address>/);
  });

  const throttling = () =>
    fakeProvider('resend', () => {
      throw new ProviderError({
        provider: 'resend',
        failureClass: 'rate_limited',
        statusCode: 429,
        message: 'slow down',
        retryAfterMs: 3_000,
      });
    });

  it('records a failover as settled before it reports it: the retry of an attempt that died reports the same results under the same id and sends nothing', async () => {
    let down = true;
    const { provider, calls } = fakeProvider('resend', (messages) => {
      if (down) {
        throw new ProviderError({ provider: 'resend', failureClass: 'transient', statusCode: 503, message: 'down' });
      }
      return sentAll(messages, {} as SendOptions, 0);
    });
    const backend = backendRecorder();
    const acts = activities(provider, {
      source: sourceOf(people(4)),
      backend: backend.client,
      suppressions: listing('u1@example.com'),
    });
    const third = new MockActivityEnvironment({ attempt: 3, heartbeatDetails: { phase: 'unsent', attempt: 2 } });
    const beats = heartbeatsOf(third);
    const over = await failure(third.run(acts.sendBatch, input(4)));
    assert.equal(over.type, 'ProviderUnavailable');
    assert.deepEqual(backend.results.map((e) => e.results.map((r) => `${r.email}:${r.status}`)), [[
      'u1@example.com:skipped',
    ]]);
    // The worker dies before Temporal records the failure; its retry gets the last heartbeat, and the provider is back.
    down = false;
    const sent = calls.length;
    const again = await failure(
      new MockActivityEnvironment({ attempt: 4, heartbeatDetails: beats.at(-1) }).run(acts.sendBatch, input(4)),
    );
    assert.equal(again.type, 'ProviderUnavailable');
    assert.equal(calls.length, sent, 'the retry sends nothing: the next provider has the rest');
    assert.deepEqual((again.details?.[0] as ProviderUnavailableDetails).remaining, [0, 2, 3]);
    // An event id is one request's results: a backend that drops a repeated id loses nothing.
    assert.equal(backend.results.length, 2);
    assert.deepEqual(backend.results[1], backend.results[0]);
  });

  it('gives way when throttled: hands the request back to the workflow with retry-after, instead of waiting in its place', async () => {
    const { provider } = throttling();
    const throttled = await failure(new MockActivityEnvironment().run(activities(provider).sendBatch, input(2)));
    assert.equal(throttled.type, 'Throttled');
    assert.equal(throttled.nonRetryable, true, "a Temporal retry would wait holding the newsletter's place");
    const { retryAfterMs } = throttled.details?.[0] as ThrottledDetails;
    assert.ok(
      retryAfterMs >= 3_000 && retryAfterMs <= 3_600,
      `sent again after ${retryAfterMs} ms: retry-after plus at most 20% jitter`,
    );
  });

  it('fails a request over once it was throttled RETRY_ATTEMPTS times, counting the throttles of the activities before it', async () => {
    const { provider } = throttling();
    const throttles = RETRY_ATTEMPTS.rate_limited - 1;
    const over = await failure(
      new MockActivityEnvironment().run(activities(provider).sendBatch, { ...input(2), throttles }),
    );
    assert.equal(over.type, 'ProviderUnavailable');
    const again = await failure(
      new MockActivityEnvironment().run(activities(provider).sendBatch, { ...input(2), throttles: throttles - 1 }),
    );
    assert.equal(again.type, 'Throttled');
  });

  it('keeps a throttled request in doubt in its place: a Temporal retry after retry-after, with the same key', async () => {
    const { provider } = throttling();
    const retry = await failure(
      new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { phase: 'requesting' } }).run(
        activities(provider).sendBatch,
        input(2),
      ),
    );
    assert.equal(retry.nonRetryable, false);
    const delay = Number(retry.nextRetryDelay);
    assert.ok(delay >= 3_000 && delay <= 3_600, `retried after ${delay} ms: retry-after plus at most 20% jitter`);
  });

  it('spreads retries after retry-after by up to 20%', () => {
    assert.equal(withJitter(1_000, () => 0), 1_000);
    assert.equal(withJitter(1_000, () => 0.999), 1_200);
    assert.equal(withJitter(undefined), undefined);
  });

  it('fails over only the messages refused for account reasons, counting the ones accepted', async () => {
    const { provider } = fakeProvider(
      'postmark',
      (messages) =>
        messages.map((_, i) =>
          i % 2 === 0 ? { status: 'sent', messageId: `id-${i}` } : {
            status: 'failed',
            error: `1236: stream cannot send to ${messages[i]!.to}`,
            failureClass: 'provider_unavailable',
          }
        ),
    );
    const backend = backendRecorder();
    const over = await failure(
      new MockActivityEnvironment().run(
        activities(provider, { backend: backend.client, source: sourceOf(people(4)) }).sendBatch,
        input(4, { provider: 'postmark', failoverTo: 'resend' }),
      ),
    );
    const details = over.details?.[0] as ProviderUnavailableDetails;
    assert.equal(details.settled.sent, 2);
    assert.deepEqual(details.remaining, [1, 3]);
    assert.deepEqual(backend.results[0]!.results.map((r) => r.recipient_id), ['r0', 'r2'], 'accepted ones reported');
    // The reason is kept in workflow history and logs: it names the refusal, never a recipient.
    assert.match(details.reason, /2 messages refused: 1236: stream cannot send to <address>/);
    assert.doesNotMatch(`${over.message} ${details.reason}`, /@/);
  });

  it('never fails over a message the provider answered nothing for: reported failed, outcome unknown', async () => {
    const { provider } = fakeProvider(
      'postmark',
      (messages) =>
        messages.map((_, i) =>
          i === 0
            ? { status: 'sent', messageId: 'id-0' }
            : { status: 'failed', error: 'no result for this message', failureClass: 'unknown_outcome' }
        ),
    );
    const backend = backendRecorder();
    const outcome: BatchOutcome = await new MockActivityEnvironment().run(
      activities(provider, { backend: backend.client, source: sourceOf(people(2)) }).sendBatch,
      input(2, { provider: 'postmark', failoverTo: 'resend' }),
    );
    assert.deepEqual([outcome.sent, outcome.failed], [1, 1]);
    const u1 = backend.results.flatMap((e) => e.results).find((r) => r.email === 'u1@example.com');
    assert.equal(u1?.status, 'failed');
    assert.match(u1?.error ?? '', /outcome unknown.*not sent elsewhere/);
  });

  it('skips recipients the provider suppresses: reported as skipped, counted apart, never sent elsewhere', async () => {
    const { provider } = fakeProvider(
      'postmark',
      (messages) =>
        messages.map((_, i) =>
          i === 1
            ? { status: 'failed', error: '406: inactive recipient', failureClass: 'suppressed' }
            : { status: 'sent', messageId: `id-${i}` }
        ),
    );
    const backend = backendRecorder();
    const outcome: BatchOutcome = await new MockActivityEnvironment().run(
      activities(provider, { backend: backend.client, source: sourceOf(people(3)) }).sendBatch,
      input(3, { provider: 'postmark', failoverTo: 'resend' }),
    );
    assert.deepEqual([outcome.sent, outcome.failed, outcome.skipped], [2, 0, 1]);
    assert.deepEqual(outcome.failures, [], 'a suppression is no failure');
    const reported = backend.results[0]!.results.find((r) => r.recipient_id === 'r1')!;
    assert.deepEqual([reported.status, reported.error], ['skipped', '406: inactive recipient']);
  });

  it('puts the addresses a provider answered it keeps from mail (406) on the suppression list, for the other provider', async () => {
    const { provider } = fakeProvider(
      'postmark',
      (messages) =>
        messages.map((m, i): MessageOutcome =>
          i === 1
            ? { status: 'failed', error: '406: inactive recipient', failureClass: 'suppressed' }
            : { status: 'sent', messageId: `id-${m.to}` }
        ),
    );
    const listed: Suppression[] = [];
    const suppress = (entries: Suppression[]) => Promise.resolve(listed.push(...entries));
    const outcome: BatchOutcome = await new MockActivityEnvironment().run(
      activities(provider, { source: sourceOf(people(3)), suppress }).sendBatch,
      input(3, { provider: 'postmark' }),
    );
    assert.deepEqual([outcome.sent, outcome.skipped], [2, 1]);
    assert.deepEqual(
      listed.map((s) => [s.email, s.reason, s.source]),
      [['u1@example.com', 'provider_suppressed', 'postmark']],
    );
    // The list being out of reach changes nothing for the request: settled all the same.
    const failing = () => Promise.reject(new Error('Temporal unreachable'));
    const again: BatchOutcome = await new MockActivityEnvironment().run(
      activities(provider, { source: sourceOf(people(3)), suppress: failing }).sendBatch,
      input(3, { provider: 'postmark' }),
    );
    assert.deepEqual([again.sent, again.skipped], [2, 1]);
  });

  it("refuses for good an email over the provider's message size, sending the rest of the request", async () => {
    const { provider, calls } = fakeProvider('postmark', sentAll);
    const big: NewsletterInput = {
      ...definition,
      // Over Postmark's 10 MB per message for the recipient whose variable fills it.
      content: { ...definition.content, text: '{{filler}}' },
    };
    const page = people(3);
    page[1] = { ...page[1]!, variables: { filler: 'x'.repeat(10 * 1024 * 1024) } };
    const source: BatchSource = { ...sourceOf(page), definition: () => Promise.resolve(big) };
    const outcome: BatchOutcome = await new MockActivityEnvironment().run(
      activities(provider, { source }).sendBatch,
      input(3, { provider: 'postmark' }),
    );
    assert.deepEqual(calls[0]!.to, ['u0@example.com', 'u2@example.com']);
    assert.deepEqual([outcome.sent, outcome.failed], [2, 1]);
    assert.match(outcome.failures[0]!.reason, /email of \d+ bytes is over postmark's limit of 10485760/);
  });

  it('fails for good a recipient whose email cannot be rendered, sending the rest: the request is not retried for ever', async () => {
    const { provider, calls } = fakeProvider('resend', sentAll);
    // A template repeating a variable: the recipient whose value is long would render 50 MB.
    const repeated: NewsletterInput = {
      ...definition,
      content: { ...definition.content, text: '{{v}}'.repeat(50_000) },
    };
    const page = people(3);
    page[1] = { ...page[1]!, variables: { v: 'x'.repeat(1_000) } };
    const source: BatchSource = { ...sourceOf(page), definition: () => Promise.resolve(repeated) };
    const metrics = recordingMetrics();
    const outcome: BatchOutcome = await new MockActivityEnvironment().run(
      activities(provider, { source, metrics: metrics.metrics }).sendBatch,
      input(3),
    );
    assert.deepEqual(calls[0]!.to, ['u0@example.com', 'u2@example.com']);
    assert.deepEqual([outcome.sent, outcome.failed], [2, 1]);
    assert.match(outcome.failures[0]!.reason, /its email could be over 40 MiB/);
    assert.deepEqual(metrics.counted.filter((c) => c.startsWith('failed')), ['failed:rejected_content']);
  });

  it("hands a request over the provider's request size back to the workflow, sending nothing", async () => {
    const { provider, calls } = fakeProvider('resend', sentAll);
    const big: NewsletterInput = { ...definition, content: { ...definition.content, text: 'x'.repeat(500 * 1024) } };
    const source: BatchSource = { ...sourceOf(people(100)), definition: () => Promise.resolve(big) };
    const tooLarge = await failure(
      new MockActivityEnvironment().run(activities(provider, { source }).sendBatch, input(100)),
    );
    assert.equal(tooLarge.type, 'RequestTooLarge');
    assert.equal(tooLarge.nonRetryable, true);
    assert.equal(calls.length, 0);
  });

  it('hands a request the provider refuses as too large (413: our size estimate fell short) back in halves, failing nobody', async () => {
    const { provider, calls } = fakeProvider('postmark', () => {
      throw new ProviderError({
        provider: 'postmark',
        failureClass: 'too_large',
        statusCode: 413,
        message: 'too large',
      });
    });
    const tooLarge = await failure(
      new MockActivityEnvironment().run(activities(provider).sendBatch, input(10, { provider: 'postmark' })),
    );
    assert.equal(calls.length, 1);
    assert.deepEqual([tooLarge.type, tooLarge.nonRetryable], ['RequestTooLarge', true]);
    // One email alone too large is its content's fault: failed, as an email over the message limit is.
    const alone: BatchOutcome = await new MockActivityEnvironment().run(
      activities(provider, { source: sourceOf(people(1)) }).sendBatch,
      input(1, { provider: 'postmark' }),
    );
    assert.deepEqual([alone.sent, alone.failed], [0, 1]);
  });

  it('fails over without calling a provider whose circuit is open', async () => {
    const { provider, calls } = fakeProvider('resend', sentAll);
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 60_000 });
    breaker.recordFailure();
    const over = await failure(
      new MockActivityEnvironment().run(activities(provider, { breaker }).sendBatch, input(3)),
    );
    assert.equal(over.type, 'ProviderUnavailable');
    assert.equal(calls.length, 0);
  });

  it('keeps a request in doubt on its provider, never failing it over and never letting an open circuit pre-empt it', async () => {
    const { provider, calls } = fakeProvider('resend', () => {
      throw new ProviderError({ provider: 'resend', failureClass: 'transient', statusCode: 503, message: 'down' });
    });
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 60_000 });
    breaker.recordFailure();
    // Attempt 6 of a request whose earlier attempt timed out (recorded `requesting`), or whose
    // worker died mid-request (nothing recorded): an earlier attempt may have been accepted.
    for (const heartbeatDetails of [{ phase: 'requesting' }, undefined]) {
      const env = new MockActivityEnvironment({ attempt: 6, heartbeatDetails });
      const retry = await failure(env.run(activities(provider, { breaker }).sendBatch, input(3)));
      assert.equal(retry.nonRetryable, false, 'retried on the same provider');
      assert.notEqual(retry.type, 'ProviderUnavailable');
    }
    assert.equal(calls.length, 2, 'the open circuit did not stop the request in doubt');
    assert.equal(calls[0]!.key, calls[1]!.key, 'with the same idempotency key');
  });

  it('retries a request in doubt on a worker without that provider instead of failing it over', async () => {
    const { provider } = fakeProvider('postmark', sentAll);
    const env = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { phase: 'requesting' } });
    const retry = await failure(env.run(activities(provider).sendBatch, input(2)));
    assert.equal(retry.nonRetryable, false);
    assert.match(retry.message, /in doubt.*resend is not configured on this worker/);
  });

  it('keeps heartbeating while it reports results to a slow backend, so its attempt is not timed out and retried', async () => {
    const { provider } = fakeProvider('resend', sentAll);
    const slow = backendRecorder();
    // The backend takes 5.5 s to answer (the workflow's heartbeat timeout is 20 s, the heartbeats 5 s apart).
    const backend: BackendClient = {
      ...slow.client,
      postResults: (event) =>
        new Promise((resolve) => setTimeout(resolve, 5_500)).then(() => slow.client.postResults(event)),
    };
    const env = new MockActivityEnvironment({ attempt: 1 });
    const beats = heartbeatsOf(env);
    const outcome: BatchOutcome = await env.run(
      activities(provider, { backend, source: sourceOf(people(2)) }).sendBatch,
      input(2),
    );
    assert.equal(outcome.sent, 2);
    const settled = beats.filter((b) => progressOf(b)?.phase === 'settled');
    assert.ok(settled.length >= 2, `heartbeats while reporting (${settled.length} after the request settled)`);
  });

  it('counts every recipient a request settles in the metrics: invalid addresses as failed, listed ones as skipped', async () => {
    const { provider } = fakeProvider('resend', sentAll);
    const { metrics, counted } = recordingMetrics();
    const page = people(4);
    page[3] = { ...page[3]!, email: 'not an address' };
    await new MockActivityEnvironment({ attempt: 1 }).run(
      activities(provider, { source: sourceOf(page), suppressions: listing('u1@example.com'), metrics }).sendBatch,
      input(4),
    );
    assert.deepEqual(counted.sort(), ['failed:rejected_recipient', 'sent:none', 'sent:none', 'skipped:suppressed']);
  });

  it('records no provider call when a request in doubt finds every message already accepted and sends nothing', async () => {
    const { provider, calls: sends } = fakeProvider('postmark', sentAll);
    const searching: EmailProvider = {
      ...provider,
      searchDelayMs: 0,
      findAccepted: (messages) => Promise.resolve(messages.map((_, i) => `earlier-${i}`)),
    };
    const { metrics, calls, counted } = recordingMetrics();
    const outcome: BatchOutcome = await new MockActivityEnvironment({
      attempt: 2,
      heartbeatDetails: { phase: 'requesting', endedAt: Date.now() },
    }).run(
      activities(searching, { source: sourceOf(people(2)), metrics }).sendBatch,
      input(2, { provider: 'postmark' }),
    );
    assert.equal(outcome.sent, 2);
    assert.equal(sends.length, 0);
    assert.deepEqual(calls, [], 'no call, no call duration');
    assert.deepEqual(counted, ['sent:none', 'sent:none']);
  });

  it('records an unknown outcome, so the next attempt is in doubt however long it lasts', async () => {
    const { provider } = fakeProvider('resend', () => {
      throw new ProviderError({ provider: 'resend', failureClass: 'unknown_outcome', statusCode: null, message: 'x' });
    });
    const env = new MockActivityEnvironment({ attempt: 40, heartbeatDetails: { phase: 'unsent', attempt: 39 } });
    const beats = heartbeatsOf(env);
    const retry = await failure(env.run(activities(provider).sendBatch, input(2)));
    assert.equal(retry.nonRetryable, false);
    const last = progressOf(beats.at(-1));
    assert.equal(last?.phase, 'requesting');
    assert.equal(isInDoubt(41, last), true);
    // When the call ended is recorded: a search by the next attempt counts its provider's indexing delay from then.
    assert.ok(last.phase === 'requesting' && typeof last.endedAt === 'number' && last.endedAt <= Date.now());
  });

  it('records a failed suppression check as unsent, so the next attempt checks again instead of going in doubt', async () => {
    const { provider, calls } = fakeProvider('resend', sentAll);
    const suppressions = () => ({ among: () => Promise.reject(new Error('shard query timed out')) });
    const env = new MockActivityEnvironment({ attempt: 3, heartbeatDetails: { phase: 'unsent', attempt: 2 } });
    const beats = heartbeatsOf(env);
    await assert.rejects(env.run(activities(provider, { suppressions }).sendBatch, input(2)), /shard query timed out/);
    assert.equal(calls.length, 0);
    assert.deepEqual(beats.at(-1), { phase: 'unsent', attempt: 3 });
    assert.equal(isInDoubt(4, progressOf(beats.at(-1))), false);
  });

  it('leaves addresses on the suppression list out of a request in doubt, as its first attempt did', async () => {
    const { provider, calls } = fakeProvider('resend', sentAll);
    const backend = backendRecorder();
    const suppressions = listing('u1@example.com');
    // Attempt 2 with nothing recorded: the first attempt died mid-request (in doubt).
    const outcome: BatchOutcome = await new MockActivityEnvironment({ attempt: 2 }).run(
      activities(provider, { source: sourceOf(people(3)), suppressions, backend: backend.client }).sendBatch,
      input(3),
    );
    assert.deepEqual(calls.map((c) => c.to), [['u0@example.com', 'u2@example.com']]);
    assert.deepEqual([outcome.sent, outcome.skipped], [2, 1]);
    const u1 = backend.results.flatMap((e) => e.results).find((r) => r.email === 'u1@example.com');
    assert.equal(u1?.status, 'skipped');
  });

  it('keeps a request in doubt when the suppression check fails: the next attempt is in doubt too', async () => {
    const { provider, calls } = fakeProvider('resend', sentAll);
    const suppressions = () => ({ among: () => Promise.reject(new Error('shard query timed out')) });
    const env = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { phase: 'requesting' } });
    const beats = heartbeatsOf(env);
    await assert.rejects(env.run(activities(provider, { suppressions }).sendBatch, input(2)), /shard query timed out/);
    assert.equal(calls.length, 0);
    assert.equal(isInDoubt(3, progressOf(beats.at(-1))), true);
  });

  it('settles a request in doubt as sent when Resend says its key was used with another body', async () => {
    const { provider } = fakeProvider('resend', () => {
      throw new ProviderError({
        provider: 'resend',
        failureClass: 'already_accepted',
        statusCode: 409,
        code: 'invalid_idempotent_request',
        message: 'used',
      });
    });
    const outcome: BatchOutcome = await new MockActivityEnvironment({ attempt: 2 }).run(
      activities(provider, { source: sourceOf(people(3)) }).sendBatch,
      input(3),
    );
    assert.deepEqual([outcome.sent, outcome.failed], [3, 0]);
  });

  it('stops an abandoned attempt: its provider call is aborted when the activity is cancelled', async () => {
    let aborted = false;
    const provider: EmailProvider = {
      name: 'resend',
      maxBatchSize: 100,
      sendBatch: (_messages, options) =>
        new Promise((_resolve, reject) => {
          options.signal?.addEventListener('abort', () => {
            aborted = true;
            reject(
              new ProviderError({
                provider: 'resend',
                failureClass: 'unknown_outcome',
                statusCode: null,
                message: 'aborted',
              }),
            );
          });
        }),
    };
    const env = new MockActivityEnvironment();
    const running = env.run(activities(provider).sendBatch, input(2));
    await new Promise((resolve) => setTimeout(resolve, 50));
    env.cancel('TIMED_OUT');
    await assert.rejects(running);
    assert.equal(aborted, true);
  });

  it('never sends again what an earlier attempt settled (heartbeat details): it only reports it', async () => {
    const { provider, calls } = fakeProvider('resend', sentAll);
    const backend = backendRecorder();
    const settled = {
      results: [{ position: 0, recipient_id: 'r0', email: 'u0@example.com', provider: 'resend', status: 'sent' }],
      remaining: [],
    };
    const outcome: BatchOutcome = await new MockActivityEnvironment({ attempt: 2, heartbeatDetails: settled }).run(
      activities(provider, { backend: backend.client }).sendBatch,
      input(1),
    );
    assert.equal(calls.length, 0);
    assert.equal(outcome.sent, 1);
    assert.equal(backend.results.length, 1);
  });
});

describe('sendBatch on a backend page that loses a recipient between reads', () => {
  const page = people(5);
  const left = page.filter((r) => r.recipientId !== 'r1'); // r1 unsubscribed after the first read
  const pageBatch = (extra: Partial<SendBatchInput> = {}) =>
    input(5, { batch: { index: 4, cursor: 'c4', count: 5 }, ...extra });
  const refusingFrom = (first: number): Behaviour => (messages) =>
    messages.map((_, i) =>
      i < first
        ? { status: 'sent', messageId: `id-${i}` }
        : { status: 'failed', error: '1236: stream cannot send', failureClass: 'provider_unavailable' }
    );

  it('sends a part to the recipients it names by member key, wherever they stand on the page now', async () => {
    const { provider, calls } = fakeProvider('resend', sentAll);
    const outcome: BatchOutcome = await new MockActivityEnvironment().run(
      activities(provider, { source: sourceOf(left) }).sendBatch,
      pageBatch({ members: [memberKey(page[3]!), memberKey(page[4]!)] }),
    );
    assert.deepEqual(calls.map((c) => c.to), [['u3@example.com', 'u4@example.com']]);
    assert.equal(outcome.sent, 2);
  });

  it('names what it leaves to the next provider by member key', async () => {
    const { provider } = fakeProvider('postmark', refusingFrom(2));
    const over = await failure(
      new MockActivityEnvironment().run(
        activities(provider, { source: sourceOf(page) }).sendBatch,
        pageBatch({ provider: 'postmark', failoverTo: 'resend' }),
      ),
    );
    const details = over.details?.[0] as ProviderUnavailableDetails;
    assert.deepEqual(details.remainingMembers, page.slice(2).map(memberKey));
  });

  it('leaves nobody out when an attempt reports what an earlier one settled and the page has shifted since', async () => {
    const { provider, calls } = fakeProvider('postmark', sentAll);
    // Attempt 1 sent u0 and u1 and was refused the rest; u1 left the list before attempt 2 read the page.
    const settled = {
      results: page.slice(0, 2).map((r, position) => ({
        position,
        recipient_id: r.recipientId,
        email: r.email,
        provider: 'postmark',
        status: 'sent',
      })),
      remaining: [2, 3, 4],
      refusal: 'refused u2@example.com: 1236: stream cannot send',
    };
    const over = await failure(
      new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { phase: 'settled', settled } }).run(
        activities(provider, { source: sourceOf(left) }).sendBatch,
        pageBatch({ provider: 'postmark', failoverTo: 'resend' }),
      ),
    );
    assert.equal(calls.length, 0, 'never sent again');
    const details = over.details?.[0] as ProviderUnavailableDetails;
    assert.deepEqual(details.remainingMembers, page.slice(2).map(memberKey));
  });

  it('names the recipients of a request over the size limit by member key, for the workflow to halve', async () => {
    const { provider, calls } = fakeProvider('resend', sentAll);
    const big: NewsletterInput = { ...definition, content: { ...definition.content, text: 'x'.repeat(500 * 1024) } };
    const list = people(100);
    const source: BatchSource = { ...sourceOf(list), definition: () => Promise.resolve(big) };
    const tooLarge = await failure(
      new MockActivityEnvironment().run(
        activities(provider, { source }).sendBatch,
        input(100, { batch: { index: 0, cursor: '', count: 100 } }),
      ),
    );
    assert.equal(tooLarge.type, 'RequestTooLarge');
    assert.deepEqual((tooLarge.details?.[0] as RequestTooLargeDetails).members, list.map(memberKey));
    assert.equal(calls.length, 0);
  });
});

describe('sendBatch through Resend when the page changes between attempts', () => {
  let mock: MockProviders;
  before(async () => {
    mock = await startMockProviders();
  });
  after(() => mock.close());

  it('sends nobody twice and nobody who left: an accepted first attempt counts for those still on the page', async () => {
    const page = people(5);
    // The first attempt times out although Resend accepted it (a slow answer).
    mock.resend.setLatency(600);
    const resend = createResendProvider({ apiKey: 're_spec', baseUrl: mock.resendUrl, timeoutMs: 200 });
    const unsubscribed = page.filter((r) => r.recipientId !== 'r2');
    const run = activities(resend, { source: sourceOf(page, unsubscribed) }).sendBatch;
    const first = await failure(new MockActivityEnvironment({ attempt: 1 }).run(run, input(5)));
    assert.equal(first.nonRetryable, false, 'an unknown outcome is retried on the same provider');
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(mock.resend.received().length, 5, 'Resend accepted the timed-out request');

    // u2 unsubscribes; the retry reads the changed page and repeats the request under the same key.
    mock.resend.setLatency(0);
    const outcome: BatchOutcome = await new MockActivityEnvironment({ attempt: 2 }).run(run, input(5));
    assert.deepEqual([outcome.sent, outcome.failed], [4, 0]);
    const received = mock.resend.received().map((e) => e.to[0]);
    assert.equal(received.length, 5, 'no email sent twice');
    assert.equal(new Set(received).size, 5);
  });

  it('sends a recipient who joined the page since the request left apart: never counted sent unsent, nobody twice', async () => {
    const first = people(4);
    const joiner: Recipient = { email: 'joiner@example.com', name: 'J', variables: {}, recipientId: 'r-joiner' };
    const grown = [first[0]!, first[1]!, joiner, first[2]!, first[3]!];
    const pageBatch = input(5, { batch: { index: 4, cursor: 'c4', count: 5 } });
    // The first attempt times out although Resend accepted it (a slow answer).
    mock.resend.setLatency(600);
    const resend = createResendProvider({ apiKey: 're_spec', baseUrl: mock.resendUrl, timeoutMs: 200 });
    const backend = backendRecorder();
    const run = activities(resend, { source: sourceOf(first, grown), backend: backend.client }).sendBatch;
    const attempt1 = new MockActivityEnvironment({ attempt: 1 });
    const beats = heartbeatsOf(attempt1);
    await failure(attempt1.run(run, pageBatch));
    await new Promise((resolve) => setTimeout(resolve, 600));
    const before = mock.resend.received().length;

    // Someone joined the page at its cursor; the retry in doubt reads it and repeats the request.
    mock.resend.setLatency(0);
    const retry = await failure(
      new MockActivityEnvironment({ attempt: 2, heartbeatDetails: beats.at(-1) }).run(run, pageBatch),
    );
    const details = retry.details?.[0] as ProviderUnavailableDetails;
    assert.equal(retry.type, 'ProviderUnavailable', 'the joiner goes back to the workflow, to a request of its own');
    assert.deepEqual(details.remainingMembers, [memberKey(joiner)]);
    assert.equal(details.pageChanged, true, 'the workflow sends them on the same provider, not as a failover');
    assert.deepEqual([details.settled.sent, details.settled.failed], [4, 0], 'the four of the first request');
    const received = mock.resend.received().slice(before).map((e) => e.to[0]);
    assert.deepEqual(received, [], 'nobody mailed twice: the same body under the same key');
    const reported = backend.results.flatMap((e) => e.results);
    assert.ok(!reported.some((r) => r.email === joiner.email), 'the joiner is not reported sent');
  });
});

describe('sendBatch through Postmark when a request is in doubt', () => {
  let mock: MockProviders;
  const spans = new InMemorySpanExporter();
  let tracing: Tracing;
  before(async () => {
    mock = await startMockProviders();
    tracing = setupTracing({ serviceName: 'send-batch-spec', otlp: false, exporter: spans });
  });
  after(async () => {
    await mock.close();
    await tracing.shutdown();
  });
  /** postmark is the adapter against the mock, its calls ended by the SDK after timeoutMs. */
  const postmark = (timeoutMs: number, searchDelayMs = 500) =>
    createPostmarkProvider({
      apiKey: 'pm',
      baseUrl: mock.postmarkUrl,
      messageStream: 'broadcast',
      timeoutMs,
      searchDelayMs,
    });

  it('sends an HTML-only newsletter with a text part made from its HTML (Postmark makes none itself)', async () => {
    mock.postmark.reset();
    const htmlOnly: NewsletterInput = {
      ...definition,
      content: {
        subject: 'Hi',
        html: '<h1>Hello {{name}}</h1><p><a href="{{unsubscribe_url}}">Leave</a></p>',
        from: 'a@example.com',
        tags: {},
      },
    };
    const source: BatchSource = { ...sourceOf(people(1)), definition: () => Promise.resolve(htmlOnly) };
    await new MockActivityEnvironment().run(
      activities(postmark(5_000), { source }).sendBatch,
      input(1, { provider: 'postmark' }),
    );
    const [email] = mock.postmark.received();
    assert.match(email?.html ?? '', /<h1>Hello U0<\/h1>/);
    assert.match(email?.text ?? '', /^Hello U0\n\nLeave \[https:\/\/app\.example\.com\/unsubscribe\?/);
    mock.postmark.reset(); // the tests below count what Postmark received
  });

  it('asks Postmark which recipients the earlier attempt got through and sends only the others', async () => {
    // The first attempt times out although Postmark accepted its three messages.
    mock.postmark.setLatency(1_500);
    const firstAttempt = new MockActivityEnvironment({ attempt: 1 });
    const beats = heartbeatsOf(firstAttempt);
    const first = await failure(
      firstAttempt.run(
        activities(postmark(1_000), { source: sourceOf(people(3)) }).sendBatch,
        input(3, { provider: 'postmark' }),
      ),
    );
    assert.equal(first.nonRetryable, false, 'in doubt: retried on the same provider, never failed over');
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.equal(mock.postmark.received().length, 3, 'Postmark accepted the timed-out request');

    // The retry (the page has grown by two meanwhile) finds the three and sends the two others only.
    mock.postmark.setLatency(0);
    const outcome: BatchOutcome = await new MockActivityEnvironment({ attempt: 2, heartbeatDetails: beats.at(-1) }).run(
      activities(postmark(5_000), { source: sourceOf(people(5)) }).sendBatch,
      input(5, { provider: 'postmark' }),
    );
    assert.deepEqual([outcome.sent, outcome.failed], [5, 0]);
    const received = mock.postmark.received().map((e) => e.to[0]);
    assert.equal(received.length, 5, 'nobody twice');
    assert.equal(new Set(received).size, 5);
    // The search is a provider call of its own in the newsletter's trace.
    const search = spans.getFinishedSpans().find((s) => s.name === 'postmark search');
    assert.equal(search?.attributes['email.accepted_earlier'], 3);
  });

  it("waits out Postmark's search indexing before resolving a request in doubt, so nobody is mailed twice", async () => {
    mock.postmark.reset();
    // Postmark finds a message by search only some time after accepting it.
    mock.postmark.setSearchDelay(1_000);
    const provider = postmark(1_000, 2_000);
    // The request times out at 1 s; Postmark accepts it at 1.5 s, and finds it by search from 2.5 s.
    mock.postmark.setLatency(1_500);
    const firstAttempt = new MockActivityEnvironment({ attempt: 1 });
    const beats = heartbeatsOf(firstAttempt);
    const first = await failure(
      firstAttempt.run(
        activities(provider, { source: sourceOf(people(3)) }).sendBatch,
        input(3, { provider: 'postmark' }),
      ),
    );
    const wait = Number(first.nextRetryDelay);
    assert.ok(
      wait >= 2_000,
      `the retry waits for the search to see the request (next retry in ${first.nextRetryDelay} ms)`,
    );
    await new Promise((resolve) => setTimeout(resolve, wait));
    mock.postmark.setLatency(0);
    const outcome: BatchOutcome = await new MockActivityEnvironment({ attempt: 2, heartbeatDetails: beats.at(-1) }).run(
      activities(provider, { source: sourceOf(people(3)) }).sendBatch,
      input(3, { provider: 'postmark' }),
    );
    assert.deepEqual([outcome.sent, outcome.failed], [3, 0]);
    assert.equal(mock.postmark.received().length, 3, 'nobody twice');
  });

  it('waits for a call abandoned in flight (worker shut down or dead) to end and be indexed before resolving it', async () => {
    mock.postmark.reset();
    mock.postmark.setSearchDelay(500);
    // The SDK ends a call after 1 s; Postmark finds what it accepted 0.5 s later.
    const provider = postmark(1_000, 500);
    // The first attempt is cancelled (its worker shuts down) while its call runs on: Postmark
    // accepts it at 0.8 s and finds it by search from 1.3 s.
    mock.postmark.setLatency(800);
    const env = new MockActivityEnvironment({ attempt: 1 });
    const beats = heartbeatsOf(env);
    const first = env.run(
      activities(provider, { source: sourceOf(people(3)) }).sendBatch,
      input(3, { provider: 'postmark' }),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    env.cancel();
    await assert.rejects(first);
    // What the attempt recorded (nothing yet, or that a call was in flight) says nothing of when its call ended.

    // Its retry comes at once (Temporal's first retry is 1 s after a cancelled attempt; a dead
    // worker's after at least 4 s): a search now would find nothing and mail all three again.
    mock.postmark.setLatency(0);
    const outcome: BatchOutcome = await new MockActivityEnvironment({ attempt: 2, heartbeatDetails: beats.at(-1) }).run(
      activities(provider, { source: sourceOf(people(3)) }).sendBatch,
      input(3, { provider: 'postmark' }),
    );
    assert.deepEqual([outcome.sent, outcome.failed], [3, 0]);
    // Once the abandoned call is over for sure (the SDK's timeout), Postmark has each of them once.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(mock.postmark.received().length, 3, 'nobody twice');
  });

  it('never mails an address on the suppression list when it resolves a request in doubt', async () => {
    mock.postmark.reset();
    const suppressions = listing('u1@example.com');
    // The first attempt leaves u1 out and times out although Postmark accepted the other two.
    mock.postmark.setLatency(1_500);
    const firstAttempt = new MockActivityEnvironment({ attempt: 1 });
    const beats = heartbeatsOf(firstAttempt);
    await failure(
      firstAttempt.run(
        activities(postmark(1_000), { source: sourceOf(people(3)), suppressions }).sendBatch,
        input(3, { provider: 'postmark' }),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.deepEqual(mock.postmark.received().map((e) => e.to[0]).sort(), ['u0@example.com', 'u2@example.com']);

    mock.postmark.setLatency(0);
    const outcome: BatchOutcome = await new MockActivityEnvironment({ attempt: 2, heartbeatDetails: beats.at(-1) }).run(
      activities(postmark(5_000), { source: sourceOf(people(3)), suppressions }).sendBatch,
      input(3, { provider: 'postmark' }),
    );
    assert.deepEqual([outcome.sent, outcome.skipped], [2, 1]);
    assert.deepEqual(mock.postmark.received().map((e) => e.to[0]).sort(), ['u0@example.com', 'u2@example.com']);
  });

  it("checks a request in doubt against the list as it stands, not its worker's copy, which may be older than the first attempt's", async () => {
    mock.postmark.reset();
    // Worker A's copy lists u1: the first attempt leaves u1 out and times out although Postmark took the other two.
    mock.postmark.setLatency(1_500);
    const firstAttempt = new MockActivityEnvironment({ attempt: 1 });
    const beats = heartbeatsOf(firstAttempt);
    await failure(
      firstAttempt.run(
        activities(postmark(1_000), { source: sourceOf(people(3)), suppressions: listing('u1@example.com') }).sendBatch,
        input(3, { provider: 'postmark' }),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 800));
    // Worker B's copy is older (SUPPRESSION_MAX_AGE_MS above the retry's wait): only the list itself has u1.
    const listed = listing('u1@example.com')();
    const staleCopy = () => ({
      among: (asked: string[], options?: { fresh?: boolean }) =>
        options?.fresh ? listed.among(asked) : Promise.resolve(new Map()),
    });
    mock.postmark.setLatency(0);
    const outcome: BatchOutcome = await new MockActivityEnvironment({ attempt: 2, heartbeatDetails: beats.at(-1) }).run(
      activities(postmark(5_000), { source: sourceOf(people(3)), suppressions: staleCopy }).sendBatch,
      input(3, { provider: 'postmark' }),
    );
    assert.deepEqual([outcome.sent, outcome.skipped], [2, 1]);
    assert.deepEqual(mock.postmark.received().map((e) => e.to[0]).sort(), ['u0@example.com', 'u2@example.com']);
  });
});

describe('render', () => {
  it('parses each template once per batch however large: a 3 MB body is not parsed again for each recipient', () => {
    // Over the 2 MB the process-wide caches keep: before, each recipient parsed each body twice.
    const big: NewsletterInput = {
      ...definition,
      content: {
        ...definition.content,
        html: `<p>${'h'.repeat(3 * 1024 * 1024)} {{name}}</p>`,
        text: `${'t'.repeat(3 * 1024 * 1024)} {{email}}`,
      },
    };
    // The writer's parse is what both Mustache.parse and Mustache.render go through.
    const parse = mock.method(Mustache.Writer.prototype, 'parse');
    try {
      const members = people(3).map((recipient, position) => ({ position, recipient }));
      const rendered = render(big, members);
      assert.equal(rendered.messages.length, 3);
      assert.ok(rendered.messages[2]!.html!.endsWith(' U2</p>'));
      assert.ok(rendered.messages[2]!.text!.endsWith(' u2@example.com'));
      assert.deepEqual(
        parse.mock.calls.map((call) => String(call.arguments[0]).length).sort((a, b) => a - b),
        [big.content.subject.length, big.content.text!.length, big.content.html!.length],
      );
    } finally {
      parse.mock.restore();
    }
  });
});
