import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { withDeadline } from './deadline.ts';

/** never is a call that ends only when its signal aborts (as fetch does, at once if it already has), with the signal's reason. */
const never = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason));
  });

describe('withDeadline', () => {
  it('aborts the call with a TimeoutError, as AbortSignal.timeout does, when the time runs out', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const call = withDeadline(1_000, undefined, never);
    t.mock.timers.tick(999);
    t.mock.timers.tick(1);
    await assert.rejects(call, (err: Error) => err.name === 'TimeoutError');
  });

  it("aborts the call with the caller's reason when the caller's signal aborts, before or during the call", async () => {
    const during = new AbortController();
    const call = withDeadline(60_000, during.signal, never);
    during.abort(new Error('activity cancelled'));
    await assert.rejects(call, /activity cancelled/);
    await assert.rejects(withDeadline(60_000, AbortSignal.abort(new Error('already gone')), never), /already gone/);
  });

  it('lets go of the call when it settles: its signal is not aborted by the time running out or by the caller later', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const caller = new AbortController();
    let seen: AbortSignal | undefined;
    const answer = await withDeadline(1_000, caller.signal, (signal) => {
      seen = signal;
      return Promise.resolve('answered');
    });
    assert.equal(answer, 'answered');
    t.mock.timers.tick(5_000);
    caller.abort(new Error('later'));
    assert.equal(seen?.aborted, false);
  });

  it('passes on what the call throws', async () => {
    const failing = mock.fn(() => Promise.reject(new Error('refused')));
    await assert.rejects(withDeadline(1_000, undefined, failing), /refused/);
    assert.equal(failing.mock.callCount(), 1);
  });
});
