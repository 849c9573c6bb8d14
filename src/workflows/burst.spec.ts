import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { BurstDrains, type BurstState, MAX_DRAINED_BURST } from './burst.ts';

/** A fake provider queue: what was scheduled on it, in order ('drain' or 'send'), and the rate it answers. */
function queue(t: TestContext, rate: number | Error, state: BurstState = { rates: {}, idleSince: {} }) {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const scheduled: string[] = [];
  const warnings: string[] = [];
  const drains = new BurstDrains(
    state,
    (provider) => {
      scheduled.push(`drain ${provider}`);
      return rate instanceof Error ? Promise.reject(rate) : Promise.resolve(rate);
    },
    (message) => warnings.push(message),
  );
  /** send is one request that ends when `end` is called. */
  const send = (provider: 'resend' | 'postmark' = 'resend') => {
    let end!: () => void;
    const ended = new Promise<void>((resolve) => end = resolve);
    const done = drains.request(provider, () => {
      scheduled.push(`send ${provider}`);
      return ended;
    });
    return { end, done };
  };
  const drained = () => scheduled.filter((s) => s.startsWith('drain')).length;
  return { drains, scheduled, warnings, send, drained, state };
}

describe('BurstDrains', () => {
  it("asks the queue's rate, then spends its whole burst on no-op tasks before the newsletter's first requests", async (t) => {
    const q = queue(t, 9.7);
    const first = [q.send(), q.send(), q.send()];
    await Promise.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    // One ask (a no-op too), then ceil(9.7) + 1 = 11 no-ops, then the three requests after them.
    assert.deepEqual(q.scheduled, [...Array(12).fill('drain resend'), ...Array(3).fill('send resend')]);
    assert.equal(q.state.rates.resend, 9.7);
    for (const r of first) r.end();
    await Promise.all(first.map((r) => r.done));
    assert.equal(q.state.idleSince.resend, 1_000_000, 'the lull is reckoned from the last request');
  });

  it('drains nothing while the newsletter keeps requests in flight on the queue', async (t) => {
    const q = queue(t, 9.7);
    const first = q.send();
    await new Promise((resolve) => setImmediate(resolve));
    const before = q.drained();
    t.mock.timers.tick(5_000);
    const second = q.send();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(q.drained(), before);
    assert.equal(q.scheduled.at(-1), 'send resend');
    first.end();
    second.end();
    await Promise.all([first.done, second.done]);
  });

  it('after a lull spends what it saved up (the rate × its length, at most the burst), without asking the rate again', async (t) => {
    const q = queue(t, 9.7, { rates: { resend: 9.7 }, idleSince: { resend: 1_000_000 - 500 } });
    const half = q.send();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(q.drained(), 4, 'half a second at 9.7/s saved four whole dispatches');
    half.end();
    await half.done;
    t.mock.timers.tick(60_000);
    const long = q.send();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(q.drained(), 4 + 11, 'a lull of a minute saved one burst, no more');
    long.end();
    await long.done;
    const next = q.send();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(q.drained(), 15, 'a request right after another: nothing saved up');
    next.end();
    await next.done;
  });

  it('drains each provider queue on its own (a failover goes to a queue with its own burst)', async (t) => {
    const q = queue(t, 2, { rates: { resend: 2, postmark: 2 }, idleSince: {} });
    const a = q.send('resend');
    const b = q.send('postmark');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(q.scheduled.filter((s) => s === 'drain resend').length, 3);
    assert.deepEqual(q.scheduled.filter((s) => s === 'drain postmark').length, 3);
    a.end();
    b.end();
    await Promise.all([a.done, b.done]);
  });

  it('leaves a queue whose burst is over MAX_DRAINED_BURST undrained (the ask is the only no-op)', async (t) => {
    const q = queue(t, MAX_DRAINED_BURST);
    const r = q.send();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(q.scheduled, ['drain resend', 'send resend']);
    r.end();
    await r.done;
  });

  it('sends undrained, warning once, when the queue does not answer (a worker of an earlier release)', async (t) => {
    const q = queue(t, new Error('Activity function drainBurst is not registered on this worker'));
    const r = q.send();
    await new Promise((resolve) => setImmediate(resolve));
    r.end();
    await r.done;
    t.mock.timers.tick(10_000);
    const again = q.send();
    await new Promise((resolve) => setImmediate(resolve));
    again.end();
    await again.done;
    assert.deepEqual(q.scheduled, ['drain resend', 'send resend', 'send resend']);
    assert.deepEqual(q.warnings, ['provider queue not drained before sending']);
    assert.equal(q.state.rates.resend, undefined);
  });

  it('ends a request that failed like one that succeeded: the lull starts then', async (t) => {
    const q = queue(t, 2, { rates: { resend: 2 }, idleSince: {} });
    const failed = q.drains.request('resend', () => Promise.reject(new Error('throttled')));
    await assert.rejects(failed, /throttled/);
    assert.equal(q.state.idleSince.resend, 1_000_000);
  });
});
