import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeAddress, shardOf, SUPPRESSION_SHARDS, suppressionWorkflowId } from './suppression.ts';

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
