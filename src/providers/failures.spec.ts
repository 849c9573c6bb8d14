import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { countsAgainstProvider, decide, RETRY_ATTEMPTS } from './failures.ts';
import { failureTableMarkdown } from './index.ts';

describe('decide', () => {
  it('lets a throttled request give way until retry-after, on the same provider, and fails over only when it persists', () => {
    assert.deepEqual(decide('rate_limited', 1, 2000), { action: 'give_way', delayMs: 2000 });
    assert.deepEqual(decide('rate_limited', RETRY_ATTEMPTS.rate_limited - 1, 2000), {
      action: 'give_way',
      delayMs: 2000,
    });
    assert.deepEqual(decide('rate_limited', RETRY_ATTEMPTS.rate_limited, 2000), { action: 'failover' });
  });

  it('backs a throttled request off 1 s, doubling up to 30 s, when the 429 names no wait', () => {
    assert.deepEqual(
      [1, 2, 3, 6, 7, 9].map((attempt) => decide('rate_limited', attempt)),
      [1_000, 2_000, 4_000, 30_000, 30_000, 30_000].map((delayMs) => ({ action: 'give_way', delayMs })),
    );
  });

  it('retries server errors a few times, then fails over', () => {
    assert.deepEqual(decide('transient', 1), { action: 'retry' });
    assert.deepEqual(decide('transient', RETRY_ATTEMPTS.transient - 1), { action: 'retry' });
    assert.deepEqual(decide('transient', RETRY_ATTEMPTS.transient), { action: 'failover' });
  });

  it('gives a server error its own retries after the request gave way to throttles: only 429s count those', () => {
    const throttles = RETRY_ATTEMPTS.rate_limited - 1;
    assert.deepEqual(decide('transient', 1, undefined, false, throttles), { action: 'retry' });
    assert.deepEqual(decide('rate_limited', 1, 1_000, false, throttles), { action: 'failover' });
    assert.deepEqual(decide('rate_limited', 1, undefined, false, 2), { action: 'give_way', delayMs: 4_000 });
  });

  it('never fails over an unknown outcome: it retries on the same provider however long it lasts', () => {
    for (const attempt of [1, RETRY_ATTEMPTS.transient, 1_000]) {
      assert.deepEqual(decide('unknown_outcome', attempt), { action: 'retry' });
    }
  });

  it('keeps a request in doubt on its provider whatever it answers, until it answers about the request', () => {
    // An earlier attempt may have been accepted: a refusal now says nothing about that one.
    for (const failureClass of ['transient', 'provider_unavailable', 'unknown_outcome'] as const) {
      assert.deepEqual(decide(failureClass, 1_000, undefined, true), { action: 'retry' }, failureClass);
    }
    assert.deepEqual(decide('rate_limited', 1_000, 3000, true), { action: 'retry', delayMs: 3000 });
    // Answers about the request itself settle it: accepted earlier, or content refused (the same body every time).
    assert.deepEqual(decide('already_accepted', 2, undefined, true), { action: 'settle_sent' });
    assert.deepEqual(decide('rejected_content', 2, undefined, true), { action: 'settle_failed' });
  });

  it('fails over at once on auth, config and quota errors', () => {
    assert.deepEqual(decide('provider_unavailable', 1), { action: 'failover' });
  });

  it('never retries or fails over permanent rejections', () => {
    assert.deepEqual(decide('rejected_recipient', 1), { action: 'settle_failed' });
    assert.deepEqual(decide('rejected_content', 1), { action: 'settle_failed' });
  });

  it('counts only provider-health failures against the circuit', () => {
    assert.equal(countsAgainstProvider('transient'), true);
    assert.equal(countsAgainstProvider('provider_unavailable'), true);
    assert.equal(countsAgainstProvider('rate_limited'), false);
    assert.equal(countsAgainstProvider('rejected_recipient'), false);
  });
});

describe('the failure table', () => {
  it('in the README is the one rendered from the code (providers/*/errors.ts and failures.ts)', () => {
    // make runs every spec from the repository root.
    const readme = readFileSync('README.md', 'utf8');
    const table = failureTableMarkdown();
    assert.ok(
      readme.includes(table),
      `README.md "Failure handling" must contain exactly this table (rendered from the code):\n\n${table}\n`,
    );
  });
});
