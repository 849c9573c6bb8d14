import { describe, it, mock } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { shardOf, type Suppression } from '../domain/suppression.ts';
import type { ShardChanges } from '../workflows/suppression.ts';
import { type ChangesReader, SuppressionCopies } from './copies.ts';

const entry = (email: string): Suppression => ({
  email,
  reason: 'hard_bounce',
  source: 'resend',
  createdAt: '2026-11-27T00:00:00.000Z',
});

/**
 * fakeShards answers changes as a shard workflow does: every entry for a reader without a copy
 * of this run, what changed since its version otherwise. `reads` records every question.
 */
function fakeShards() {
  type Run = { runId: string; firstRunId: string; version: number; entries: Map<string, Suppression>; log: string[] };
  const runs = new Map<number, Run>();
  const reads: Array<{ shard: number; since: { runId: string; version: number } | null }> = [];
  let failNext: Error | undefined;
  const shard = (n: number) => {
    let run = runs.get(n);
    if (!run) {
      runs.set(n, run = { runId: `run-${n}-1`, firstRunId: `run-${n}-1`, version: 0, entries: new Map(), log: [] });
    }
    return run;
  };
  const read: ChangesReader = (n, since) => {
    reads.push({ shard: n, since });
    if (failNext) {
      const err = failNext;
      failNext = undefined;
      return Promise.reject(err);
    }
    const run = runs.get(n);
    if (!run) return Promise.resolve(null);
    if (!since || since.runId !== run.runId) {
      return Promise.resolve<ShardChanges>({
        runId: run.runId,
        firstRunId: run.firstRunId,
        version: run.version,
        entries: [...run.entries.values()],
      });
    }
    const touched = new Set(run.log.slice(since.version));
    return Promise.resolve<ShardChanges>({
      runId: run.runId,
      firstRunId: run.firstRunId,
      version: run.version,
      added: [...touched].flatMap((e) => run.entries.get(e) ?? []),
      removed: [...touched].filter((e) => !run.entries.has(e)),
    });
  };
  return {
    read,
    reads,
    add(email: string) {
      const run = shard(shardOf(email));
      run.entries.set(email, entry(email));
      run.log.push(email);
      run.version += 1;
    },
    remove(email: string) {
      const run = shard(shardOf(email));
      run.entries.delete(email);
      run.log.push(email);
      run.version += 1;
    },
    /** continueAsNew starts the shard's next run: same entries, a new run id, versions from 0. */
    continueAsNew(email: string) {
      const run = shard(shardOf(email));
      runs.set(shardOf(email), { ...run, runId: `${run.runId}+`, version: 0, log: [] });
    },
    /** restartEmpty replaces the shard's workflow with a new, empty one (its first run: a new chain). */
    restartEmpty(email: string) {
      const runId = `${shard(shardOf(email)).runId}-anew`;
      runs.set(shardOf(email), { runId, firstRunId: runId, version: 0, entries: new Map(), log: [] });
    },
    /** forget deletes the shard's workflow: it is not found any more. */
    forget(email: string) {
      runs.delete(shardOf(email));
    },
    failNext(err: Error) {
      failNext = err;
    },
  };
}

/** sameShardAs is another address in the shard of email. */
const sameShardAs = (email: string): string =>
  Array.from({ length: 500 }, (_, i) => `n${i}@example.com`).find((e) => shardOf(e) === shardOf(email))!;

/** clock is a time the test moves. */
function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => now += ms };
}

const MAX_AGE = 1_000;

describe('SuppressionCopies', () => {
  it("measures a copy's age on a clock that never goes back: a wall clock set back does not keep an old copy fresh", async () => {
    const shards = fakeShards();
    mock.timers.enable({ apis: ['Date'], now: Date.parse('2026-11-27T12:00:00Z') });
    try {
      const copies = new SuppressionCopies(shards.read, 20);
      assert.equal((await copies.among(['late@example.com'])).size, 0);
      // An NTP step, or a VM resumed: the wall clock goes back an hour; then the address is listed.
      mock.timers.setTime(Date.parse('2026-11-27T11:00:00Z'));
      shards.add('late@example.com');
      await sleep(50);
      assert.deepEqual([...(await copies.among(['late@example.com'])).keys()], ['late@example.com']);
    } finally {
      mock.timers.reset();
    }
  });

  it("answers from the worker's copy while it is fresh, asking the shard nothing", async () => {
    const shards = fakeShards();
    const time = clock();
    shards.add('bounced@example.com');
    const copies = new SuppressionCopies(shards.read, MAX_AGE, time.now);
    assert.deepEqual([...(await copies.among(['Bounced@Example.com', 'fine@example.com'])).keys()], [
      'bounced@example.com',
    ]);
    const asked = shards.reads.length;
    time.advance(MAX_AGE / 2);
    await copies.among(['bounced@example.com', 'fine@example.com']);
    assert.equal(shards.reads.length, asked, 'no query within half the maximum age');
  });

  it('answers a fresh check from the list as it stands, even while the copy is within its maximum age', async () => {
    const shards = fakeShards();
    const time = clock();
    const copies = new SuppressionCopies(shards.read, MAX_AGE, time.now);
    assert.equal((await copies.among(['new@example.com'])).size, 0);
    shards.add('new@example.com');
    assert.equal((await copies.among(['new@example.com'])).size, 0, 'the copy is fresh enough for a send');
    assert.deepEqual([...(await copies.among(['new@example.com'], { fresh: true })).keys()], ['new@example.com']);
    assert.equal((await copies.among(['new@example.com'])).size, 1, 'and the copy is up to date since');
  });

  it('refreshes a copy past half its maximum age in the background: sends go on with the copy meanwhile', async () => {
    const shards = fakeShards();
    const time = clock();
    shards.add('early@example.com');
    let hold = false;
    const held: Array<() => void> = [];
    const read: ChangesReader = (shard, since) =>
      hold ? new Promise((resolve) => held.push(() => resolve(shards.read(shard, since)))) : shards.read(shard, since);
    const copies = new SuppressionCopies(read, MAX_AGE, time.now);
    await copies.among(['early@example.com']);
    const late = sameShardAs('early@example.com');
    shards.add(late);
    hold = true;
    time.advance(MAX_AGE / 2 + 1);
    // The background refresh is held: the send is answered from the copy at once.
    assert.deepEqual([...(await copies.among(['early@example.com'])).keys()], ['early@example.com']);
    assert.equal(held.length, 1, 'one refresh began');
    held[0]!();
    hold = false;
    await new Promise((resolve) => setImmediate(resolve));
    time.advance(MAX_AGE / 2);
    // Within the maximum age of that refresh: no query, and the refreshed copy has the change.
    const asked = shards.reads.length;
    assert.ok((await copies.among([late])).has(late));
    assert.equal(shards.reads.length, asked);
  });

  it('brings a stale copy up to date with what changed since its version: additions and removals', async () => {
    const shards = fakeShards();
    const time = clock();
    shards.add('old@example.com');
    const copies = new SuppressionCopies(shards.read, MAX_AGE, time.now);
    await copies.among(['old@example.com']);
    shards.remove('old@example.com');
    shards.add('new@example.com');
    // The shard is asked for what changed since the version of the copy (1: one addition).
    time.advance(MAX_AGE + 1);
    const found = await copies.among(['old@example.com', 'new@example.com']);
    assert.deepEqual([...found.keys()], ['new@example.com']);
    const oldShard = shards.reads.filter((r) => r.shard === shardOf('old@example.com'));
    assert.deepEqual(oldShard.at(-1)!.since, { runId: `run-${shardOf('old@example.com')}-1`, version: 1 });
  });

  it('shares one refresh of a shard between every send that asks while it is out', async () => {
    const shards = fakeShards();
    const copies = new SuppressionCopies(shards.read, MAX_AGE, clock().now);
    shards.add('a@example.com');
    const answers = await Promise.all([1, 2, 3, 4].map(() => copies.among(['a@example.com'])));
    assert.ok(answers.every((a) => a.has('a@example.com')));
    assert.equal(shards.reads.length, 1);
  });

  it('reads a shard that never existed as empty, and asks again once that is stale', async () => {
    const shards = fakeShards();
    const time = clock();
    const copies = new SuppressionCopies(shards.read, MAX_AGE, time.now);
    assert.equal((await copies.among(['later@example.com'])).size, 0);
    shards.add('later@example.com');
    time.advance(MAX_AGE + 1);
    assert.ok((await copies.among(['later@example.com'])).has('later@example.com'));
  });

  it('takes every entry again when the shard has continued as new', async () => {
    const shards = fakeShards();
    const time = clock();
    shards.add('kept@example.com');
    const copies = new SuppressionCopies(shards.read, MAX_AGE, time.now);
    await copies.among(['kept@example.com']);
    shards.continueAsNew('kept@example.com');
    // Another address of the same shard, added in its new run (whose versions start again at 0).
    const neighbour = sameShardAs('kept@example.com');
    shards.add(neighbour);
    time.advance(MAX_AGE + 1);
    const found = await copies.among(['kept@example.com', neighbour]);
    assert.deepEqual([...found.keys()].sort(), [neighbour, 'kept@example.com'].sort());
  });

  /** holdingCopy is a worker's copy of the shard holding kept@example.com, and what it reports lost. */
  const holdingCopy = async () => {
    const shards = fakeShards();
    const time = clock();
    shards.add('kept@example.com');
    const lost: string[] = [];
    const copies = new SuppressionCopies(shards.read, MAX_AGE, time.now, (shard, how) => lost.push(`${shard}:${how}`));
    await copies.among(['kept@example.com']);
    return { shards, time, copies, lost };
  };

  it("keeps a copy's addresses when its shard is answered by a new, empty workflow (the old one closed): never mails them", async () => {
    const { shards, time, copies, lost } = await holdingCopy();
    shards.restartEmpty('kept@example.com');
    const neighbour = sameShardAs('kept@example.com');
    shards.add(neighbour);
    time.advance(MAX_AGE + 1);
    const found = await copies.among(['kept@example.com', neighbour]);
    assert.deepEqual([...found.keys()].sort(), [neighbour, 'kept@example.com'].sort());
    assert.deepEqual(lost, [`${shardOf('kept@example.com')}:restarted`], 'and says so');
    // The new workflow continues as new: its next full answer does not drop what was kept either.
    shards.continueAsNew('kept@example.com');
    time.advance(MAX_AGE + 1);
    assert.ok((await copies.among(['kept@example.com'])).has('kept@example.com'));
  });

  it("keeps a copy's addresses when its shard is gone (deleted): a shard once seen is never read as empty", async () => {
    const { shards, time, copies, lost } = await holdingCopy();
    shards.forget('kept@example.com');
    time.advance(MAX_AGE + 1);
    assert.ok((await copies.among(['kept@example.com'])).has('kept@example.com'));
    assert.deepEqual(lost, [`${shardOf('kept@example.com')}:gone`]);
  });

  it('fails the sends waiting on a failed refresh (never answers from a stale copy) and tries again on the next', async () => {
    const shards = fakeShards();
    const time = clock();
    const copies = new SuppressionCopies(shards.read, MAX_AGE, time.now);
    await copies.among(['x@example.com']);
    shards.add('x@example.com');
    time.advance(MAX_AGE + 1);
    shards.failNext(new Error('query timed out'));
    await assert.rejects(copies.among(['x@example.com']), /query timed out/);
    assert.ok((await copies.among(['x@example.com'])).has('x@example.com'));
  });

  it('asks the shard at every send when the maximum age is 0', async () => {
    const shards = fakeShards();
    const time = clock();
    const copies = new SuppressionCopies(shards.read, 0, time.now);
    await copies.among(['y@example.com']);
    shards.add('y@example.com');
    time.advance(1);
    assert.ok((await copies.among(['y@example.com'])).has('y@example.com'));
  });
});
