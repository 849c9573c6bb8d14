import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type MockProviders, startMockProviders } from '../../../mock-providers/server.ts';
import { withAnswer } from '../../../test/support/answering.ts';
import { renderedEmail } from '../../../test/support/fixtures.ts';
import { ProviderError } from '../types.ts';
import { createProviders } from '../index.ts';
import { loadConfig } from '../../config.ts';
import { createPostmarkProvider, postmarkClientOptions, REQUEST_FIELD, requestTag } from './index.ts';

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
      idempotencyKey: 'nl-n1-b0-postmark',
    });
    const received = mock.postmark.received();
    assert.deepEqual(outcomes, received.map((e) => ({ status: 'sent', messageId: e.messageId })));
    assert.deepEqual(received.map((e) => e.to[0]), ['a@example.com', 'b@example.com']);
    assert.equal(received[0]!.messageStream, 'broadcast');
    assert.equal(received[0]!.headers['List-Unsubscribe'], '<https://example.com/u>');
    assert.equal(received[0]!.tags['campaign'], 'spring');
    assert.equal(received[0]!.tags[REQUEST_FIELD], 'nl-n1-b0-postmark', 'every message names its request');
    assert.equal(received[1]!.tag, received[1]!.tags['newsletter_id'], 'its Tag holds the newsletter id whole');
    assert.deepEqual(
      [received[1]!.tags['newsletter_id'], received[1]!.tags['recipient_id']],
      [email('b@example.com').ids!.newsletterId, email('b@example.com').ids!.recipientId],
      'and whose email it is',
    );
    assert.deepEqual(mock.postmark.calls().map((c) => c.path), ['/email/batch']);
  });

  it('gives an email whose recipient has no id no recipient_id in its Metadata', async () => {
    const anonymous = { ...email('a@example.com'), ids: { newsletterId: 'n1', recipientId: '' } };
    await provider().sendBatch([anonymous], { idempotencyKey: 'nl-n1-b9-postmark' });
    assert.equal('recipient_id' in mock.postmark.received()[0]!.tags, false);
  });

  it('finds which messages an earlier request got through, by the request key in their Metadata', async () => {
    const key = 'nl-n1-b3-postmark';
    await provider().sendBatch([email('a@example.com'), email('B@example.com')], { idempotencyKey: key });
    await provider().sendBatch([email('c@example.com')], { idempotencyKey: 'nl-n1-b4-postmark' });
    const asked = [email('a@example.com'), email('b@example.com'), email('c@example.com')];
    const found = await provider().findAccepted!(asked, { idempotencyKey: key });
    const ids = new Map(mock.postmark.received().map((e) => [e.to[0]!.toLowerCase(), e.messageId]));
    assert.deepEqual(found, [ids.get('a@example.com'), ids.get('b@example.com'), undefined]);
  });

  it('hashes a request key longer than the 80 characters Postmark keeps in a Metadata value', async () => {
    const key = `nl-${'x'.repeat(128)}-b12-postmark-p0-99-n100`;
    assert.match(requestTag(key), /^sha256-[0-9a-f]{64}$/);
    assert.equal(requestTag('nl-short-b1-postmark'), 'nl-short-b1-postmark');
    await provider().sendBatch([email('a@example.com')], { idempotencyKey: key });
    assert.equal(mock.postmark.received()[0]!.tags[REQUEST_FIELD], requestTag(key));
    assert.equal(
      (await provider().findAccepted!([email('a@example.com')], { idempotencyKey: key }))[0] !== undefined,
      true,
    );
  });

  it('classifies each element of a partly failed batch: an inactive (suppressed) recipient is suppressed', async () => {
    mock.postmark.failAddresses('inactive', ['gone@example.com']);
    const outcomes = await provider().sendBatch([email('a@example.com'), email('gone@example.com')], {
      idempotencyKey: 'k',
    });
    assert.equal(outcomes[0]!.status, 'sent');
    assert.equal(outcomes[1]!.status === 'failed' && outcomes[1]!.failureClass, 'suppressed');
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

describe('Postmark adapter against a 200 answer without results', () => {
  it('leaves the outcome of every message unknown when the answer is not one result per message', async () => {
    // A proxy in front of Postmark answering 200 with a page of its own.
    const page = { status: 200, contentType: 'text/html', body: '<html>ok</html>' };
    const outcomes = await withAnswer(
      page,
      (baseUrl) =>
        createPostmarkProvider({ apiKey: 'pm-spec', baseUrl, messageStream: 'broadcast', timeoutMs: 2_000 })
          .sendBatch([email('a@example.com'), email('b@example.com')], { idempotencyKey: 'nl-n1-b0-postmark' }),
    );
    assert.deepEqual(outcomes.map((o) => o.status === 'failed' && o.failureClass), [
      'unknown_outcome',
      'unknown_outcome',
    ]);
  });
});

describe('the Postmark adapter a worker builds from its configuration', () => {
  it("waits out Postmark's search indexing (10 s) before it resolves a request in doubt by a search", () => {
    // A shorter wait could miss what the first attempt got through, and mail it again.
    const providers = createProviders(loadConfig({ POSTMARK_API_KEY: 'pm-key', GRPC_HOST: '127.0.0.1' }).providers);
    assert.equal(providers.get('postmark')?.searchDelayMs, 10_000);
  });
});
