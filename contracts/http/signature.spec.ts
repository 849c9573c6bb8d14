import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { signatureHeader, verifySignature } from './signature.ts';

const body = '{"event_id":"n1:final","state":"COMPLETED"}';
const at = 1_800_000_000;

describe('callback signatures', () => {
  it('sign "t.body" with HMAC-SHA256, as the contract says, and verify', () => {
    const header = signatureHeader(body, ['s3cret'], at);
    const expected = createHmac('sha256', 's3cret').update(`${at}.${body}`).digest('hex');
    assert.equal(header, `t=${at},v1=${expected}`);
    assert.deepEqual(verifySignature({ header, body, secrets: ['s3cret'], now: at + 10 }), { ok: true, timestamp: at });
  });

  it('refuse a tampered body, another secret, a missing or malformed header', () => {
    const header = signatureHeader(body, ['s3cret'], at);
    const check = (h: string | undefined, b = body, secrets = ['s3cret']) =>
      verifySignature({ header: h, body: b, secrets, now: at });
    assert.deepEqual(check(header, body.replace('COMPLETED', 'CANCELLED')), { ok: false, reason: 'mismatch' });
    assert.deepEqual(check(header, body, ['other']), { ok: false, reason: 'mismatch' });
    assert.deepEqual(check(undefined), { ok: false, reason: 'missing' });
    assert.deepEqual(check('v1=abc'), { ok: false, reason: 'malformed' });
  });

  it('refuse a signature older or newer than the tolerance (5 minutes by default): no replays', () => {
    const header = signatureHeader(body, ['s3cret'], at);
    assert.equal(verifySignature({ header, body, secrets: ['s3cret'], now: at + 301 }).ok, false);
    assert.equal(verifySignature({ header, body, secrets: ['s3cret'], now: at - 301 }).ok, false);
    assert.equal(verifySignature({ header, body, secrets: ['s3cret'], now: at + 300 }).ok, true);
  });

  it('keep working through a rotation: signed by both secrets, verified by either', () => {
    const header = signatureHeader(body, ['new', 'old'], at);
    assert.equal(verifySignature({ header, body, secrets: ['old'], now: at }).ok, true, 'a backend not yet rotated');
    assert.equal(verifySignature({ header, body, secrets: ['new'], now: at }).ok, true, 'a backend already rotated');
    assert.equal(verifySignature({ header, body, secrets: ['new', 'old'], now: at }).ok, true);
  });
});
