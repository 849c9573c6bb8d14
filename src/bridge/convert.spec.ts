import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Timestamp } from '../../contracts/gen/google/protobuf/timestamp.ts';
import { timestampOf } from './convert.ts';

describe('timestampOf', () => {
  it('reads a stored time, and leaves out one that is not a time instead of failing the whole answer', () => {
    assert.equal(Timestamp.toDate(timestampOf('2026-11-27T12:00:00Z')!).toISOString(), '2026-11-27T12:00:00.000Z');
    for (const text of ['', 'yesterday']) assert.equal(timestampOf(text), undefined);
  });
});
