import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GroupedSignals } from './group-signals.ts';

/** signals records each signal sent and lets the test settle it. */
function signals() {
  const sent: Array<{ key: string; items: number[]; settle: (err?: Error) => void }> = [];
  const send = (key: string, items: number[]) =>
    new Promise<void>((resolve, reject) => {
      sent.push({ key, items, settle: (err) => (err ? reject(err) : resolve()) });
    });
  return { sent, send };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupedSignals', () => {
  it('sends the first item at once, and what comes while a signal is in flight together in the next', async () => {
    const { sent, send } = signals();
    const group = new GroupedSignals<number>(send, 100);
    const done: number[] = [];
    const adds = [1, 2, 3, 4].map((n) => group.add('nl-1', n).then(() => done.push(n)));
    await tick();
    assert.deepEqual(sent.map((s) => s.items), [[1]]);
    sent[0]!.settle();
    await tick();
    assert.deepEqual(done, [1], 'a caller hears back when the signal holding its item is in');
    assert.deepEqual(sent.map((s) => s.items), [[1], [2, 3, 4]]);
    sent[1]!.settle();
    await Promise.all(adds);
    assert.deepEqual(done, [1, 2, 3, 4]);
  });

  it('keeps each key apart: one newsletter waiting does not hold another', async () => {
    const { sent, send } = signals();
    const group = new GroupedSignals<number>(send, 100);
    const first = group.add('nl-1', 1);
    const waiting = group.add('nl-1', 2);
    const other = group.add('nl-2', 3);
    await tick();
    assert.deepEqual(sent.map((s) => [s.key, s.items]), [['nl-1', [1]], ['nl-2', [3]]]);
    sent[1]!.settle();
    await other;
    // nl-1 goes on by itself.
    sent[0]!.settle();
    await first;
    await tick();
    sent[2]!.settle();
    await waiting;
  });

  it('fails every caller of a signal that fails, and goes on with the next group', async () => {
    const { sent, send } = signals();
    const group = new GroupedSignals<number>(send, 100);
    const first = group.add('nl-1', 1);
    const second = [group.add('nl-1', 2), group.add('nl-1', 3)];
    await tick();
    sent[0]!.settle();
    await first;
    await tick();
    sent[1]!.settle(new Error('Temporal did not answer'));
    for (const p of second) await assert.rejects(p, /Temporal did not answer/);
    const later = group.add('nl-1', 4);
    await tick();
    assert.deepEqual(sent.at(-1)!.items, [4]);
    sent.at(-1)!.settle();
    await later;
  });

  it('gives up on an item still waiting after maxWaitMs (its webhook is answered "retry later"), and never sends it', async () => {
    const { sent, send } = signals();
    const group = new GroupedSignals<number>(send, 100, 50);
    void group.add('nl-1', 1);
    const late = group.add('nl-1', 2);
    await assert.rejects(late, /not handed to Temporal within 50 ms/);
    sent[0]!.settle();
    await tick();
    assert.deepEqual(sent.map((s) => s.items), [[1]], 'the item given up on is not sent later');
  });

  it('sends at most max items in one signal', async () => {
    const { sent, send } = signals();
    const group = new GroupedSignals<number>(send, 2);
    const adds = [1, 2, 3, 4, 5].map((n) => group.add('nl-1', n));
    await tick();
    for (let i = 0; i < 3; i++) {
      sent[i]!.settle();
      await tick();
    }
    await Promise.all(adds);
    assert.deepEqual(sent.map((s) => s.items), [[1], [2, 3], [4, 5]]);
  });
});
