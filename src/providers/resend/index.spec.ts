import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type MockProviders, startMockProviders } from '../../../mock-providers/server.ts';
import { withAnswer } from '../../../test/support/answering.ts';
import { renderedEmail } from '../../../test/support/fixtures.ts';
import { ProviderError } from '../types.ts';
import { createResendProvider } from './index.ts';

const email = renderedEmail;

describe('Resend adapter (official SDK against the mock Resend)', () => {
  let mock: MockProviders;
  const provider = () => createResendProvider({ apiKey: 're_spec', baseUrl: mock.resendUrl, timeoutMs: 2_000 });
  before(async () => {
    mock = await startMockProviders();
  });
  after(() => mock.close());
  beforeEach(() => mock.resend.reset());

  it('sends one /emails/batch call with the idempotency key, headers and tags, one outcome per message in order', async () => {
    const outcomes = await provider().sendBatch([email('a@example.com'), email('b@example.com')], {
      idempotencyKey: 'key-1',
    });
    const received = mock.resend.received();
    assert.deepEqual(outcomes, received.map((e) => ({ status: 'sent', messageId: e.messageId })));
    assert.deepEqual(received.map((e) => e.to[0]), ['a@example.com', 'b@example.com']);
    assert.equal(received[0]!.idempotencyKey, 'key-1');
    assert.equal(received[0]!.headers['List-Unsubscribe'], '<https://example.com/u>');
    // The ids ride along as tags; a recipient id outside Resend's tag alphabet travels hashed.
    assert.deepEqual(received[0]!.tags, {
      campaign: 'spring',
      newsletter_id: 'n1',
      recipient_id: `sha256-${createHash('sha256').update('r-a@example.com').digest('hex')}`,
    });
    assert.deepEqual(mock.resend.calls().map((c) => c.path), ['/emails/batch']);
  });

  it('tags an email whose recipient has no id with no recipient_id (not the hash of an empty id, the same for all of them)', async () => {
    const anonymous = { ...email('a@example.com'), ids: { newsletterId: 'n1', recipientId: '' } };
    await provider().sendBatch([anonymous], { idempotencyKey: 'key-anon' });
    assert.deepEqual(mock.resend.received()[0]!.tags, { campaign: 'spring', newsletter_id: 'n1' });
  });

  it('sends the valid messages of a batch and fails only the invalid recipient, as rejected_recipient', async () => {
    mock.resend.failAddresses('invalid', ['bad@example.com']);
    const outcomes = await provider().sendBatch(
      [email('a@example.com'), email('bad@example.com'), email('c@example.com')],
      { idempotencyKey: 'key-2' },
    );
    assert.deepEqual(outcomes.map((o) => o.status), ['sent', 'failed', 'sent']);
    assert.equal(outcomes[1]!.status === 'failed' && outcomes[1]!.failureClass, 'rejected_recipient');
    assert.deepEqual(mock.resend.received().map((e) => e.to[0]), ['a@example.com', 'c@example.com']);
  });

  it('throws a classified ProviderError with retry-after when throttled', async () => {
    mock.resend.injectFault({ status: 429, count: 1, retryAfterSeconds: 3 });
    await assert.rejects(provider().sendBatch([email('a@example.com')], { idempotencyKey: 'key-3' }), (err) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.failureClass, 'rate_limited');
      assert.equal(err.statusCode, 429);
      assert.equal(err.retryAfterMs, 3_000);
      return true;
    });
  });

  it('throws unknown_outcome with no status when the call times out', async () => {
    mock.resend.setLatency(1_000);
    const slow = createResendProvider({ apiKey: 're_spec', baseUrl: mock.resendUrl, timeoutMs: 100 });
    await assert.rejects(slow.sendBatch([email('a@example.com')], { idempotencyKey: 'key-4' }), (err) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.failureClass, 'unknown_outcome');
      assert.equal(err.statusCode, null);
      return true;
    });
  });
});

describe('Resend adapter against a 200 answer without ids', () => {
  it('leaves the outcome of every message unknown, instead of failing the call', async () => {
    for (const body of ['{}', '{"data":[{}]}']) {
      const outcomes = await withAnswer(
        { status: 200, contentType: 'application/json', body },
        (baseUrl) =>
          createResendProvider({ apiKey: 're_spec', baseUrl, timeoutMs: 2_000 })
            .sendBatch([email('a@example.com')], { idempotencyKey: 'k' }),
      );
      assert.deepEqual(outcomes.map((o) => o.status === 'failed' && o.failureClass), ['unknown_outcome'], body);
    }
  });
});
