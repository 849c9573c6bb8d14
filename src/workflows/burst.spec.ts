import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ActivityFailure, RetryState, TimeoutFailure, TimeoutType } from '@temporalio/common';
import { MAX_DRAINED_RATE, type ProviderName } from '../domain/types.ts';
import { BurstDrains, type BurstState } from './burst.ts';

/**
 * A fake pair of queues: what was asked and scheduled, in order ('ask', 'drain' or 'send'),
 * with the rate and whether to drain as providerQueue answers.
 */
function queues(
  t: TestContext,
  server: { rate: number; drain?: boolean } | Error,
  state: BurstState = { rates: {}, idleSince: {} },
) {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const scheduled: string[] = [];
  const warnings: string[] = [];
  const drains = new BurstDrains(
    state,
    {
      ask({ provider, maxRate }) {
        scheduled.push(`ask ${provider}`);
        if (server instanceof Error) return Promise.reject(server);
        return Promise.resolve({ rate: server.rate, drain: (server.drain ?? true) && server.rate <= maxRate });
      },
      drainOne(provider) {
        scheduled.push(`drain ${provider}`);
        return Promise.resolve();
      },
    },
    (message) => warnings.push(message),
  );
  /** send is one request that ends when `end` is called. */
  const send = (provider: ProviderName = 'resend') => {
    let end!: () => void;
    const ended = new Promise<void>((resolve) => end = resolve);
    const done = drains.request(provider, () => {
      scheduled.push(`send ${provider}`);
      return ended;
    });
    return { end, done };
  };
  /** sendOne runs one request to its end. */
  const sendOne = async () => {
    const r = send();
    await settle();
    r.end();
    await r.done;
  };
  const count = (what: string) => scheduled.filter((s) => s === what).length;
  return { drains, scheduled, warnings, send, sendOne, count, state };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('BurstDrains', () => {
  it("asks about the queue, then spends an idle queue's whole burst on no-op tasks before the newsletter's first requests", async (t) => {
    const q = queues(t, { rate: 9.7 });
    const first = [q.send(), q.send(), q.send()];
    await settle();
    // ceil(9.7) + 1 = 11 no-ops, then the three requests after them.
    assert.deepEqual(q.scheduled, [
      'ask resend',
      ...Array(11).fill('drain resend'),
      ...Array(3).fill('send resend'),
    ]);
    assert.equal(q.state.rates.resend, 9.7);
    for (const r of first) r.end();
    await Promise.all(first.map((r) => r.done));
    assert.equal(q.state.idleSince.resend, 1_000_000, 'the lull is reckoned from the last request');
  });

  it('drains nothing when told not to (tasks wait on the queue, or another newsletter drained it moments ago)', async (t) => {
    const q = queues(t, { rate: 9.7, drain: false });
    const r = q.send();
    await settle();
    assert.deepEqual(q.scheduled, ['ask resend', 'send resend']);
    r.end();
    await r.done;
  });

  it('drains nothing while the newsletter keeps requests in flight on the queue', async (t) => {
    const q = queues(t, { rate: 9.7 });
    const first = q.send();
    await settle();
    const before = q.scheduled.length;
    t.mock.timers.tick(5_000);
    const second = q.send();
    await settle();
    assert.deepEqual(q.scheduled.slice(before), ['send resend']);
    first.end();
    second.end();
    await Promise.all([first.done, second.done]);
  });

  it('after a lull spends what it saved up (the rate × its length, at most the burst), and does not ask after a moment', async (t) => {
    const q = queues(t, { rate: 9.7 }, { rates: { resend: 9.7 }, idleSince: { resend: 1_000_000 - 500 } });
    const half = q.send();
    await settle();
    assert.equal(q.count('drain resend'), 4, 'half a second at 9.7/s saved four whole dispatches');
    half.end();
    await half.done;
    t.mock.timers.tick(60_000);
    const long = q.send();
    await settle();
    assert.equal(q.count('drain resend'), 4 + 11, 'a lull of a minute saved one burst, no more');
    long.end();
    await long.done;
    t.mock.timers.tick(50);
    const next = q.send();
    await settle();
    assert.equal(q.count('drain resend'), 15, '50 ms at 9.7/s: nothing whole saved up');
    assert.equal(q.count('ask resend'), 2, 'nor asked about');
    next.end();
    await next.done;
  });

  it('drains each provider queue on its own (a failover goes to a queue with its own burst)', async (t) => {
    const q = queues(t, { rate: 2 });
    const a = q.send('resend');
    const b = q.send('postmark');
    await settle();
    assert.equal(q.count('drain resend'), 3);
    assert.equal(q.count('drain postmark'), 3);
    a.end();
    b.end();
    await Promise.all([a.done, b.done]);
  });

  it('leaves a queue faster than MAX_DRAINED_RATE undrained, and does not ask about it again in the run', async (t) => {
    const q = queues(t, { rate: MAX_DRAINED_RATE + 0.5 });
    await q.sendOne();
    t.mock.timers.tick(10_000);
    await q.sendOne();
    assert.deepEqual(q.scheduled, ['ask resend', 'send resend', 'send resend']);
  });

  it('sends undrained, warning once, when the queue cannot be described (a worker of an earlier release)', async (t) => {
    const q = queues(t, new Error('Activity function providerQueue is not registered on this worker'));
    await q.sendOne();
    t.mock.timers.tick(10_000);
    await q.sendOne();
    assert.deepEqual(q.scheduled, ['ask resend', 'send resend', 'send resend']);
    assert.deepEqual(q.warnings, ['provider queue not drained before sending']);
  });

  it('asks again at the next lull when the answer did not come in time (the main queue was busy)', async (t) => {
    const timedOut = new ActivityFailure(
      'activity timed out',
      'providerQueue',
      '1',
      RetryState.TIMEOUT,
      'worker',
      new TimeoutFailure(undefined, undefined, TimeoutType.SCHEDULE_TO_CLOSE),
    );
    const q = queues(t, timedOut);
    await q.sendOne();
    t.mock.timers.tick(10_000);
    await q.sendOne();
    assert.deepEqual(q.scheduled, ['ask resend', 'send resend', 'ask resend', 'send resend']);
  });

  it('ends a request that failed like one that succeeded: the lull starts then', async (t) => {
    const q = queues(t, { rate: 2 }, { rates: { resend: 2 }, idleSince: { resend: 1_000_000 } });
    const failed = q.drains.request('resend', () => Promise.reject(new Error('throttled')));
    await assert.rejects(failed, /throttled/);
    assert.equal(q.state.idleSince.resend, 1_000_000);
    t.mock.timers.tick(700);
    const failedLater = q.drains.request('resend', () => Promise.reject(new Error('throttled')));
    await assert.rejects(failedLater, /throttled/);
    assert.equal(q.state.idleSince.resend, 1_000_700);
  });
});
