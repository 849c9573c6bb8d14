/**
 * One rate limit per provider account, enforced by the Temporal server on the provider's
 * task queue across every worker; and fair sharing of that queue between newsletters.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import type proto from '@temporalio/proto';
import { workflowIdFor } from '../../src/domain/types.ts';
import { eventually } from '../support/eventually.ts';
import { newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { finalStatus } from '../support/grpc.ts';
import { type Stack, startStack, startWorkerProcess } from './harness.ts';

describe('provider rate limit across workers', { timeout: 300_000 }, () => {
  const RATE = 10;
  let stack: Stack;
  const extra: Array<{ stop(): Promise<void> }> = [];
  before(async () => {
    stack = await startStack({
      RESEND_REQUESTS_PER_SECOND: String(RATE),
      NEWSLETTER_BATCH_SIZE: '10',
      EMAIL_CONCURRENCY_LIMIT: '50',
    });
    // Three worker processes poll the Resend queue: the stack's and two replicas.
    extra.push(await startWorkerProcess(stack), await startWorkerProcess(stack));
  });
  after(async () => {
    for (const w of extra) await w.stop();
    await stack?.close();
  });

  it("keeps three workers together within the account rate, the idle queue's start-up burst spent on no-op tasks: a provider enforcing the rate throttles at most a straggler", async (t) => {
    stack.mock.resend.setRateLimit(RATE);
    const id = newsletterId('rate');
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(500, 'rl')), stack.auth);
    const status = await finalStatus(stack, id);
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.equal(status.sent, 500);
    const calls = stack.mock.resend.calls();
    const first = Date.parse(calls[0]!.at);
    const throttledAt = calls.filter((c) => c.status === 429).map((c) => Date.parse(c.at) - first);
    t.diagnostic(`429s at ${throttledAt.join(', ')} ms after the first request, of ${calls.length} calls`);
    // An idle queue lets about one second's worth through at once (Temporal's token bucket starts
    // full): spent on drainBurst tasks, the requests go at the rate from the first one, and only a
    // request delayed past its slot may still meet a 429 (it is honoured). Undrained, the first
    // second's requests met 10–12; without the server-side limit, three workers with 50 requests
    // in flight would all go at once and most would be throttled. (Asserted after the history, below.)
    assert.equal(calls.filter((c) => c.status === 200).length, 50, 'each request accepted once');
    const seconds = (Date.parse(calls.at(-1)!.at) - first) / 1000;
    assert.ok(seconds >= (50 - 1) / RATE, `50 requests at ${RATE}/s took only ${seconds} s`);
    // The rate held with more than one worker taking the Resend queue's requests (the history names who ran each).
    const events: proto.temporal.api.history.v1.IHistoryEvent[] = [];
    for await (const run of stack.env.client.workflow.list({ query: `WorkflowId = '${workflowIdFor(id)}'` })) {
      events.push(...(await stack.env.client.workflow.getHandle(workflowIdFor(id), run.runId).fetchHistory()).events!);
    }
    const onResend = new Set(
      events.filter((e) => e.activityTaskScheduledEventAttributes?.taskQueue?.name?.endsWith('-resend'))
        .map((e) => String(e.eventId)),
    );
    const workers = new Set(
      events.filter((e) => onResend.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId)))
        .map((e) => e.activityTaskStartedEventAttributes!.identity),
    );
    assert.ok(workers.size >= 2, `requests ran on ${workers.size} worker(s): ${[...workers].join(', ')}`);
    // The burst went to no-op tasks scheduled before the first request: ⌈9.7⌉ + 1 of them.
    const types = events.filter((e) => e.activityTaskScheduledEventAttributes?.taskQueue?.name?.endsWith('-resend'))
      .map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name);
    assert.deepEqual(types.slice(0, 11), Array(11).fill('drainBurst'));
    assert.equal(types[11], 'sendBatch');
    const firstSecond = throttledAt.filter((ms) => ms < 1_000).length;
    assert.ok(
      firstSecond <= 2 && throttledAt.length <= 4,
      `${firstSecond} requests throttled in the first second, ${throttledAt.length} in all`,
    );
  });
});

/** scheduledActivities lists the activity types a newsletter scheduled, in order (its first run). */
async function scheduledActivities(stack: Stack, id: string): Promise<string[]> {
  const { events } = await stack.env.client.workflow.getHandle(workflowIdFor(id)).fetchHistory();
  return events!.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
}

describe('newsletters starting together on an idle provider queue', { timeout: 300_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      RESEND_REQUESTS_PER_SECOND: '10',
      NEWSLETTER_BATCH_SIZE: '10',
      EMAIL_CONCURRENCY_LIMIT: '50',
    });
  });
  after(async () => {
    await stack?.close();
  });

  it("drain it once: the first to ask holds the queue's gate, the others send behind its no-op tasks", async () => {
    stack.mock.resend.setRateLimit(10);
    const ids = ['together-a', 'together-b', 'together-c'].map((name) => newsletterId(name));
    await Promise.all(
      ids.map((id, i) => stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(100, `t${i}`)), stack.auth)),
    );
    for (const id of ids) assert.equal((await finalStatus(stack, id)).sent, 100);
    // Before its first request, each asked; one drained (a newsletter throttled later may drain after a lull of its own).
    const starts = await Promise.all(ids.map(async (id) => {
      const scheduled = await scheduledActivities(stack, id);
      const before = scheduled.slice(0, scheduled.indexOf('sendBatch'));
      return { asked: before.includes('providerQueue'), drained: before.filter((n) => n === 'drainBurst').length };
    }));
    assert.ok(starts.every((s) => s.asked), JSON.stringify(starts));
    assert.equal(starts.filter((s) => s.drained > 0).length, 1, JSON.stringify(starts));
  });
});

describe('a provider throttling a newsletter that cannot fill the queue', { timeout: 300_000 }, () => {
  const RATE = 10;
  let stack: Stack;
  before(async () => {
    // Fewer requests in flight than the queue lets through in a second: when every one of them
    // meets a 429, nothing else keeps the queue busy.
    stack = await startStack({
      RESEND_REQUESTS_PER_SECOND: String(RATE),
      NEWSLETTER_BATCH_SIZE: '10',
      EMAIL_CONCURRENCY_LIMIT: '8',
    });
  });
  after(async () => {
    await stack?.close();
  });

  it("gives a throttled request's place to the next ones while it waits out retry-after, so the queue never idles into a new burst", async (t) => {
    stack.mock.resend.setRateLimit(RATE);
    // The start-up burst goes to no-op tasks (burst.ts): the provider throttles the first window's
    // requests all at once here, as a stricter account limit would.
    stack.mock.resend.injectFault({ status: 429, count: 8, retryAfterSeconds: 1 });
    const id = newsletterId('give-way');
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(800, 'gw')), stack.auth);
    const status = await finalStatus(stack, id);
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.equal(status.sent, 800);
    assert.deepEqual([status.batchesCompleted, status.batchesTotal], [80, 80], 'a batch sent again completes once');
    const calls = stack.mock.resend.calls();
    const first = Date.parse(calls[0]!.at);
    const throttledAt = calls.filter((c) => c.status === 429).map((c) => Date.parse(c.at) - first);
    assert.equal(calls.filter((c) => c.status === 200).length, 80, 'each request accepted once');
    t.diagnostic(`429s at ${throttledAt.join(', ')} ms after the first request, of ${calls.length} calls`);
    // The eight refused, and at most a straggler after them (a request delayed past its slot).
    assert.ok(throttledAt.length >= 8 && throttledAt.length <= 10, `${throttledAt.length} requests throttled`);

    // Had the throttled requests waited in their places (Temporal retries), all eight would
    // sleep at once, the queue would idle and refill, and let them back together into 429s
    // again. Instead each one's activity ends at once and the workflow starts the next request
    // before the wait is over.
    const events: proto.temporal.api.history.v1.IHistoryEvent[] = [];
    for await (const run of stack.env.client.workflow.list({ query: `WorkflowId = '${workflowIdFor(id)}'` })) {
      events.push(...(await stack.env.client.workflow.getHandle(workflowIdFor(id), run.runId).fetchHistory()).events!);
    }
    const at = (e: (typeof events)[number]) => Number(e.eventTime!.seconds) * 1000 + (e.eventTime!.nanos ?? 0) / 1e6;
    const gaveWay = events.filter((e) =>
      e.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.type === 'Throttled'
    );
    assert.equal(gaveWay.length, throttledAt.length, 'every throttled request went back to the workflow');
    const firstGaveWay = at(gaveWay[0]!);
    const startedMeanwhile = events.filter((e) =>
      e.activityTaskScheduledEventAttributes?.activityType?.name === 'sendBatch' && at(e) >= firstGaveWay &&
      at(e) < firstGaveWay + 1_000
    );
    assert.ok(startedMeanwhile.length > 0, 'the next requests started while the first throttled one waited');
  });

  it('drains the queue again when it resumes after a pause: its own gate does not stop it', async () => {
    stack.mock.resend.setRateLimit(10);
    const id = newsletterId('paused-lull');
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(400, 'pl')), stack.auth);
    await eventually(() => stack.mock.resend.received().some((e) => e.to[0]!.startsWith('pl')) || undefined, 30_000);
    await stack.newsletters.pauseNewsletter({ newsletterId: id }, stack.auth);
    // Its requests in flight go on at the queue's rate: the lull begins when the last has reached the provider.
    await eventually(
      () => {
        const last = stack.mock.resend.received().filter((e) => e.to[0]!.startsWith('pl')).at(-1)!;
        return Date.now() - Date.parse(last.receivedAt) >= 1_500 || undefined;
      },
      30_000,
      50,
    );
    await stack.newsletters.resumeNewsletter({ newsletterId: id }, stack.auth);
    assert.equal((await finalStatus(stack, id)).sent, 400);
    // Drained before its first request and again before the first after the pause (a lull of 1.5 s saves a burst).
    const scheduled = await scheduledActivities(stack, id);
    const drains = scheduled.join(' ').split('sendBatch').filter((gap) => gap.includes('drainBurst')).length;
    assert.ok(drains >= 2, `drained ${drains} time(s): ${scheduled.join(', ')}`);
  });
});

describe('fair sharing of a provider queue', { timeout: 300_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      RESEND_REQUESTS_PER_SECOND: '20',
      NEWSLETTER_BATCH_SIZE: '10',
      EMAIL_CONCURRENCY_LIMIT: '100',
    });
  });
  after(async () => {
    await stack?.close();
  });

  it('lets a small newsletter through while a big one has a long backlog on the same queue', async () => {
    const big = newsletterId('big');
    const small = newsletterId('small');
    await stack.newsletters.sendNewsletter(newsletterRequest(big, recipients(2000, 'bg')), stack.auth);
    // The big newsletter now has ~100 requests waiting on the Resend queue (5 s at 20/s).
    await eventually(() => stack.mock.resend.received().length >= 100, 60_000, 50);
    await stack.newsletters.sendNewsletter(newsletterRequest(small, recipients(30, 'sm')), stack.auth);
    const done = await finalStatus(stack, small);
    assert.equal(done.sent, 30);
    const bigSent = stack.mock.resend.received().filter((e) => e.to[0]!.startsWith('bg')).length;
    assert.ok(bigSent < 1000, `the small newsletter finished after ${bigSent} of 2,000 big-newsletter emails`);
    // The big one's backlog was spending the queue's bucket: the small one drained nothing.
    const scheduled = await scheduledActivities(stack, small);
    assert.ok(scheduled.includes('providerQueue'), 'it looked at the queue');
    assert.ok(!scheduled.includes('drainBurst'), `it drained: ${scheduled.join(', ')}`);
    assert.equal((await finalStatus(stack, big)).sent, 2000);
  });
});
