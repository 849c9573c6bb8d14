import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  classifyPostmarkCode,
  classifyPostmarkError,
  classifyResendError,
  countsAgainstProvider,
  decide,
  RETRY_ATTEMPTS,
} from './classify.ts';

describe('classifyResendError', () => {
  const cases: Array<[number | null, string | undefined, string]> = [
    [null, 'application_error', 'unknown_outcome'],
    [429, 'rate_limit_exceeded', 'rate_limited'],
    [429, 'daily_quota_exceeded', 'provider_unavailable'],
    [429, 'monthly_quota_exceeded', 'provider_unavailable'],
    [500, 'internal_server_error', 'transient'],
    [503, 'application_error', 'transient'],
    [409, 'concurrent_idempotent_requests', 'transient'],
    [409, 'invalid_idempotent_request', 'rejected_content'],
    [401, 'missing_api_key', 'provider_unavailable'],
    [403, 'invalid_api_key', 'provider_unavailable'],
    [422, 'validation_error', 'rejected_content'],
    [400, 'validation_error', 'rejected_content'],
    [451, 'security_error', 'rejected_content'],
  ];
  for (const [status, name, expected] of cases) {
    it(`classifies ${status} ${name} as ${expected}`, () => {
      assert.equal(classifyResendError(status, name), expected);
    });
  }
});

describe('classifyPostmarkError', () => {
  const cases: Array<[number, number, string]> = [
    [0, 0, 'unknown_outcome'],
    [429, 0, 'rate_limited'],
    [500, 0, 'transient'],
    [503, 100, 'transient'],
    [401, 10, 'provider_unavailable'],
    [422, 406, 'rejected_recipient'],
    [422, 300, 'rejected_recipient'],
    [422, 402, 'rejected_content'],
    [422, 412, 'provider_unavailable'],
    [422, 1235, 'provider_unavailable'],
    [422, 1480, 'provider_unavailable'],
    [413, 0, 'rejected_content'],
  ];
  for (const [status, code, expected] of cases) {
    it(`classifies HTTP ${status} ErrorCode ${code} as ${expected}`, () => {
      assert.equal(classifyPostmarkError(status, code), expected);
    });
  }

  it('classifies batch elements by ErrorCode: inactive and invalid recipients are permanent for that recipient', () => {
    assert.equal(classifyPostmarkCode(406), 'rejected_recipient');
    assert.equal(classifyPostmarkCode(300), 'rejected_recipient');
    assert.equal(classifyPostmarkCode(1236), 'provider_unavailable');
  });
});

describe('decide', () => {
  it('retries throttling on the same provider after retry-after, and fails over only when it persists', () => {
    assert.deepEqual(decide('rate_limited', 1, 2000), { action: 'retry', delayMs: 2000 });
    assert.deepEqual(decide('rate_limited', RETRY_ATTEMPTS.rate_limited, 2000), { action: 'failover' });
  });

  it('retries server errors a few times, then fails over', () => {
    assert.deepEqual(decide('transient', 1), { action: 'retry' });
    assert.deepEqual(decide('transient', RETRY_ATTEMPTS.transient - 1), { action: 'retry' });
    assert.deepEqual(decide('transient', RETRY_ATTEMPTS.transient), { action: 'failover' });
  });

  it('keeps an unknown outcome on the same provider longer than a server error', () => {
    assert.ok(RETRY_ATTEMPTS.unknown_outcome > RETRY_ATTEMPTS.transient);
    assert.deepEqual(decide('unknown_outcome', RETRY_ATTEMPTS.transient), { action: 'retry' });
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
