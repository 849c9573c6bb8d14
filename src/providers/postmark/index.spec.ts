import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type MockProviders, startMockProviders } from '../../../mock-providers/server.ts';
import { renderedEmail } from '../../../test/support/fixtures.ts';
import { ProviderError } from '../types.ts';
import { createPostmarkProvider, postmarkClientOptions } from './index.ts';

const email = renderedEmail;

describe('postmarkClientOptions', () => {
  it('derives host, port, path prefix and scheme from POSTMARK_BASE_URL', () => {
    assert.deepEqual(postmarkClientOptions('http://127.0.0.1:4011'), {
      useHttps: false,
      requestHost: '127.0.0.1:4011',
    });
    assert.deepEqual(postmarkClientOptions('https://api.postmarkapp.com'), {
      useHttps: true,
      requestHost: 'api.postmarkapp.com',
    });
    assert.deepEqual(postmarkClientOptions('http://mock.local:8080/postmark/'), {
      useHttps: false,
      requestHost: 'mock.local:8080/postmark',
    });
  });
});

describe('Postmark adapter (official SDK against the mock Postmark)', () => {
  let mock: MockProviders;
  const provider = (messageStream = 'broadcast') =>
    createPostmarkProvider({ apiKey: 'pm-spec', baseUrl: mock.postmarkUrl, messageStream, timeoutMs: 2_000 });
  before(async () => {
    mock = await startMockProviders();
  });
  after(() => mock.close());
  beforeEach(() => mock.postmark.reset());

  it('sends one /email/batch call on the message stream with headers and metadata, one outcome per message', async () => {
    const outcomes = await provider().sendBatch([email('a@example.com'), email('b@example.com')], {
      idempotencyKey: 'unused-by-postmark',
    });
    const received = mock.postmark.received();
    assert.deepEqual(outcomes, received.map((e) => ({ status: 'sent', messageId: e.messageId })));
    assert.deepEqual(received.map((e) => e.to[0]), ['a@example.com', 'b@example.com']);
    assert.equal(received[0]!.messageStream, 'broadcast');
    assert.equal(received[0]!.headers['List-Unsubscribe'], '<https://example.com/u>');
    assert.equal(received[0]!.tags.newsletter_id, 'n1');
    assert.deepEqual(mock.postmark.calls().map((c) => c.path), ['/email/batch']);
  });

  it('classifies each element of a partly failed batch: an inactive recipient is rejected_recipient', async () => {
    mock.postmark.failAddresses('inactive', ['gone@example.com']);
    const outcomes = await provider().sendBatch([email('a@example.com'), email('gone@example.com')], {
      idempotencyKey: 'k',
    });
    assert.equal(outcomes[0]!.status, 'sent');
    assert.equal(outcomes[1]!.status === 'failed' && outcomes[1]!.failureClass, 'rejected_recipient');
  });

  it('marks every element provider_unavailable when the message stream does not exist (ErrorCode 1235)', async () => {
    const outcomes = await provider('no-such-stream').sendBatch([email('a@example.com')], { idempotencyKey: 'k' });
    assert.equal(outcomes[0]!.status === 'failed' && outcomes[0]!.failureClass, 'provider_unavailable');
  });

  it('throws a classified ProviderError for a whole-call failure', async () => {
    mock.postmark.injectFault({ status: 503, count: 1 });
    await assert.rejects(provider().sendBatch([email('a@example.com')], { idempotencyKey: 'k' }), (err) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.failureClass, 'transient');
      assert.equal(err.statusCode, 503);
      return true;
    });
  });
});
