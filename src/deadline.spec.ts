import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { withDeadline } from './deadline.ts';

/** never is a call that ends only when its signal aborts (as fetch does, at once if it already has), with the signal's reason. */
const never = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason));
  });

/** settled says whether a promise has settled by the event loop's next turn. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => done = true, () => done = true);
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('withDeadline', () => {
  it('aborts the call with a TimeoutError DOMException, as AbortSignal.timeout does, when the time runs out and not before', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const call = withDeadline(1_000, undefined, never);
    t.mock.timers.tick(999);
    assert.equal(await settled(call), false);
    t.mock.timers.tick(1);
    await assert.rejects(call, (err: unknown) => err instanceof DOMException && err.name === 'TimeoutError');
  });

  it("aborts the call with the caller's reason when the caller's signal aborts, before or during the call", async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const during = new AbortController();
    const call = withDeadline(60_000, during.signal, never);
    during.abort(new Error('activity cancelled'));
    await assert.rejects(call, /activity cancelled/);
    await assert.rejects(withDeadline(60_000, AbortSignal.abort(new Error('already gone')), never), /already gone/);
  });

  for (
    const [how, outcome] of [['answers', () => Promise.resolve('answered')], [
      'fails',
      () => Promise.reject(new Error('refused')),
    ]] as const
  ) {
    it(`lets go of a call that ${how}: its signal is not aborted by the time running out or by the caller later`, async (t) => {
      t.mock.timers.enable({ apis: ['setTimeout'] });
      const caller = new AbortController();
      let seen: AbortSignal | undefined;
      await withDeadline(1_000, caller.signal, (signal) => {
        seen = signal;
        return outcome();
      }).catch(() => undefined);
      t.mock.timers.tick(5_000);
      caller.abort(new Error('later'));
      assert.equal(seen?.aborted, false);
    });
  }

  it('passes on what the call answers or throws', async () => {
    assert.equal(await withDeadline(1_000, undefined, () => Promise.resolve('answered')), 'answered');
    const failing = mock.fn(() => Promise.reject(new Error('refused')));
    await assert.rejects(withDeadline(1_000, undefined, failing), /refused/);
    assert.equal(failing.mock.callCount(), 1);
  });
});
