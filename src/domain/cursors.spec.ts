import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cursorHash, cursorsReadBefore, FIRST_KEPT, RECENT_KEPT, rememberCursors } from './cursors.ts';

describe('rememberCursors', () => {
  it("keeps a list's first cursors and its latest ones, as hashes, whatever its length", () => {
    const cursors = Array.from({ length: 10_000 }, (_, i) => `offset=${i * 100}`);
    let read = rememberCursors(undefined, cursors.slice(0, 10));
    for (let i = 10; i < cursors.length; i += 10) read = rememberCursors(read, cursors.slice(i, i + 10));
    assert.equal(read.first.length, FIRST_KEPT);
    assert.equal(read.recent.length, RECENT_KEPT);
    const before = new Set(cursorsReadBefore(read));
    assert.ok(before.has(cursorHash('offset=100')), 'a list that starts over');
    assert.ok(before.has(cursorHash(`offset=${9_999 * 100}`)), 'a recent page');
    assert.ok(!before.has(cursorHash(`offset=${5_000 * 100}`)), 'one read long ago, mid-list: forgotten');
    assert.ok(!before.has(cursorHash('offset=500000')), 'a page never read');
  });

  it('hashes distinct cursors apart and the same cursor alike', () => {
    const hashes = new Set(Array.from({ length: 100_000 }, (_, i) => cursorHash(`c${i}`)));
    assert.equal(hashes.size, 100_000);
    assert.equal(cursorHash('eyJpZCI6NDJ9'), cursorHash('eyJpZCI6NDJ9'));
    assert.ok(Number.isSafeInteger(cursorHash('x')));
  });
});
