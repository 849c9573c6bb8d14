import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ChangeLog,
  normalizeAddress,
  shardOf,
  type Suppression,
  SUPPRESSION_SHARDS,
  suppressionWorkflowId,
} from './suppression.ts';

const entry = (email: string): Suppression => ({ email, reason: 'complaint', source: 'postmark', createdAt: 'then' });

describe('suppression shards', () => {
  it('puts an address in one shard whatever its case or spaces, and spreads addresses over every shard', () => {
    assert.equal(shardOf(' Ada@Example.com '), shardOf('ada@example.com'));
    assert.equal(normalizeAddress(' Ada@Example.com '), 'ada@example.com');
    const used = new Set(Array.from({ length: 1_000 }, (_, i) => shardOf(`user${i}@example.com`)));
    assert.equal(used.size, SUPPRESSION_SHARDS);
    assert.ok([...used].every((s) => Number.isInteger(s) && s >= 0 && s < SUPPRESSION_SHARDS));
    assert.equal(suppressionWorkflowId(3), 'suppression-list-3');
  });
});

describe('ChangeLog', () => {
  it('numbers every change and answers the net change since a version', () => {
    const log = new ChangeLog(100);
    log.added(entry('a@x.test'));
    log.added(entry('b@x.test'));
    assert.equal(log.version, 2);
    log.removed('a@x.test');
    log.added(entry('c@x.test'));
    log.removed('c@x.test');
    log.removed('b@x.test');
    log.added(entry('b@x.test'));
    assert.equal(log.version, 7);
    assert.deepEqual(log.since(2), { added: [entry('b@x.test')], removed: ['a@x.test', 'c@x.test'] });
    assert.deepEqual(log.since(0)?.added.map((e) => e.email), ['b@x.test']);
    assert.deepEqual(log.since(7), { added: [], removed: [] });
    assert.equal(log.since(8), undefined, 'a version it never had');
  });

  it('keeps at least max changes, trimming by halves: a reader further behind must reload everything', () => {
    const log = new ChangeLog(10);
    for (let i = 0; i < 20; i++) log.added(entry(`u${i}@x.test`));
    assert.ok(log.since(0), 'twice max are still kept');
    log.added(entry('u20@x.test'));
    assert.equal(log.version, 21);
    assert.equal(log.since(10), undefined, 'trimmed to the last 10');
    assert.deepEqual(
      log.since(11)?.added.map((e) => e.email),
      Array.from({ length: 10 }, (_, i) => `u${i + 11}@x.test`),
    );
  });
});
