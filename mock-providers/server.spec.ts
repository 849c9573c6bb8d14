import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Errors, ServerClient } from 'postmark';
import { Resend } from 'resend';
import { MockProvidersClient } from './client.ts';
import { postmarkWebhook } from './webhooks.ts';
import { startMockProviders } from './server.ts';
import type { MockProviders } from './server.ts';

let mock: MockProviders;

before(async () => {
  mock = await startMockProviders();
});

after(async () => {
  await mock.close();
});

beforeEach(() => {
  mock.resend.reset();
  mock.postmark.reset();
});

function resend(): Resend {
  return new Resend('re_test', { baseUrl: mock.resendUrl });
}

function postmark(token = 'server-token', url = mock.postmarkUrl): ServerClient {
  return new ServerClient(token, { useHttps: false, requestHost: new URL(url).host });
}

function email(to: string, extra: Record<string, unknown> = {}) {
  return { from: 'News <news@example.com>', to, subject: 'Hello', html: '<p>Hi</p>', text: 'Hi', ...extra };
}

function message(to: string, extra: Record<string, unknown> = {}) {
  return {
    From: 'news@example.com',
    To: to,
    Subject: 'Hello',
    HtmlBody: '<p>Hi</p>',
    MessageStream: 'broadcast',
    ...extra,
  };
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code: number; statusCode: number }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code: number; statusCode: number };
  }
  assert.fail('expected the SDK call to throw');
}

describe('Resend mock', () => {
  it('records a single email with its headers, tags and reply-to', async () => {
    const { data, error, headers } = await resend().emails.send({
      ...email('ada@example.com'),
      replyTo: ['reply@example.com'],
      headers: {
        'List-Unsubscribe': '<https://example.com/u/1>',
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      },
      tags: [{ name: 'newsletter_id', value: 'nl-1' }],
    });
    assert.equal(error, null);
    assert.match(data!.id, /^[0-9a-f-]{36}$/);
    assert.match(headers!['content-type']!, /application\/json/);
    const [received] = mock.resend.received();
    assert.deepEqual({ ...received, receivedAt: '' }, {
      provider: 'resend',
      messageId: data!.id,
      from: 'News <news@example.com>',
      to: ['ada@example.com'],
      subject: 'Hello',
      html: '<p>Hi</p>',
      text: 'Hi',
      replyTo: 'reply@example.com',
      headers: {
        'List-Unsubscribe': '<https://example.com/u/1>',
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      },
      tags: { newsletter_id: 'nl-1' },
      receivedAt: '',
    });
    assert.deepEqual(
      mock.resend.calls().map(({ method, path, status, messages }) => ({ method, path, status, messages })),
      [{ method: 'POST', path: '/emails', status: 200, messages: 1 }],
    );
  });

  it('records a batch in order and answers one id per email', async () => {
    const { data, error } = await resend().batch.send([
      email('a@example.com'),
      email('b@example.com', { tags: [{ name: 'n', value: '2' }] }),
    ]);
    assert.equal(error, null);
    assert.equal(data!.data.length, 2);
    const received = mock.resend.received();
    assert.deepEqual(received.map((e) => [e.messageId, e.to[0]]), [[data!.data[0]!.id, 'a@example.com'], [
      data!.data[1]!.id,
      'b@example.com',
    ]]);
    assert.deepEqual(received[1]!.tags, { n: '2' });
    assert.equal(mock.resend.calls()[0]!.messages, 2);
  });

  it('replays the first response for a repeated idempotency key and sends nothing again', async () => {
    const batch = [email('a@example.com'), email('b@example.com')];
    const first = await resend().batch.send(batch, { idempotencyKey: 'nl-1/batch-0' });
    const second = await resend().batch.send(batch, { idempotencyKey: 'nl-1/batch-0' });
    assert.equal(second.error, null);
    assert.deepEqual(second.data, first.data);
    assert.equal(mock.resend.received().length, 2);
    assert.deepEqual(mock.resend.received().map((e) => e.idempotencyKey), ['nl-1/batch-0', 'nl-1/batch-0']);
    assert.deepEqual(mock.resend.calls().map((c) => [c.status, c.idempotencyKey]), [[200, 'nl-1/batch-0'], [
      200,
      'nl-1/batch-0',
    ]]);
  });

  it('answers 409 invalid_idempotent_request for the same key with another payload', async () => {
    await resend().emails.send(email('a@example.com'), { idempotencyKey: 'k1' });
    const { data, error } = await resend().emails.send(email('b@example.com'), { idempotencyKey: 'k1' });
    assert.equal(data, null);
    assert.equal(error?.statusCode, 409);
    assert.equal(error?.name, 'invalid_idempotent_request');
    assert.equal(mock.resend.received().length, 1);
  });

  it('answers 409 concurrent_idempotent_requests while the first request with the key is in flight', async () => {
    mock.resend.setLatency(150);
    const first = resend().emails.send(email('a@example.com'), { idempotencyKey: 'k2' });
    await new Promise((resolve) => setTimeout(resolve, 30));
    const second = await resend().emails.send(email('a@example.com'), { idempotencyKey: 'k2' });
    assert.equal(second.error?.statusCode, 409);
    assert.equal(second.error?.name, 'concurrent_idempotent_requests');
    assert.equal((await first).error, null);
    assert.equal(mock.resend.received().length, 1);
  });

  it('answers 400 invalid_idempotency_key for a key longer than 256 characters', async () => {
    const { error } = await resend().emails.send(email('a@example.com'), { idempotencyKey: 'k'.repeat(257) });
    assert.deepEqual({ ...error }, {
      statusCode: 400,
      name: 'invalid_idempotency_key',
      message: 'The key must be between 1-256 chars.',
    });
  });

  it('rejects the whole batch in strict mode when one email is invalid', async () => {
    const { data, error } = await resend().batch.send([email('a@example.com'), email('not-an-address')]);
    assert.equal(data, null);
    assert.equal(error?.statusCode, 422);
    assert.equal(error?.name, 'validation_error');
    assert.match(error!.message, /^emails\[1\]: Invalid `to` field/);
    assert.deepEqual(mock.resend.received(), []);
  });

  it('sends the valid emails and lists the invalid ones by index in permissive mode', async () => {
    mock.resend.failAddresses('invalid', ['Registered-Invalid@example.com']);
    const { data, error } = await resend().batch.send(
      [email('a@example.com'), email('registered-invalid@example.com'), email('c@example.com'), {
        ...email('d@example.com'),
        subject: '',
      }],
      { batchValidation: 'permissive' },
    );
    assert.equal(error, null);
    assert.equal(data!.data.length, 2);
    assert.deepEqual(data!.errors.map((e) => e.index), [1, 3]);
    assert.match(data!.errors[0]!.message, /Invalid `to` field/);
    assert.equal(data!.errors[1]!.message, 'Missing `subject` field.');
    assert.deepEqual(mock.resend.received().map((e) => [e.messageId, e.to[0]]), [
      [data!.data[0]!.id, 'a@example.com'],
      [data!.data[1]!.id, 'c@example.com'],
    ]);
  });

  it('accepts inactive addresses, as real Resend reports suppressions later by webhook', async () => {
    mock.resend.failAddresses('inactive', ['gone@example.com']);
    const { error } = await resend().emails.send(email('Gone <gone@example.com>'));
    assert.equal(error, null);
    assert.equal(mock.resend.received().length, 1);
  });

  it('rejects an empty batch and a batch of more than 100 emails with 422 validation_error', async () => {
    const empty = await resend().batch.send([]);
    assert.equal(empty.error?.statusCode, 422);
    assert.equal(empty.error?.name, 'validation_error');
    const big = await resend().batch.send(Array.from({ length: 101 }, (_, i) => email(`u${i}@example.com`)));
    assert.equal(big.error?.statusCode, 422);
    assert.deepEqual(mock.resend.received(), []);
  });

  it('rejects a missing from and more than 50 recipients', async () => {
    const noFrom = await resend().emails.send({ ...email('a@example.com'), from: '' });
    assert.equal(noFrom.error?.name, 'missing_required_field');
    const many = await resend().emails.send(
      email('x@example.com', { to: Array.from({ length: 51 }, (_, i) => `u${i}@example.com`) }),
    );
    assert.equal(many.error?.statusCode, 422);
    assert.equal(many.error?.name, 'validation_error');
  });

  it('answers an injected 503 for the next N calls, then sends', async () => {
    mock.resend.injectFault({ status: 503, count: 2 });
    for (let i = 0; i < 2; i++) {
      const { data, error } = await resend().emails.send(email('a@example.com'));
      assert.equal(data, null);
      assert.equal(error?.statusCode, 503);
      assert.equal(error?.name, 'internal_server_error');
    }
    assert.deepEqual(mock.resend.received(), []);
    const { error } = await resend().emails.send(email('a@example.com'));
    assert.equal(error, null);
    assert.deepEqual(mock.resend.calls().map((c) => c.status), [503, 503, 200]);
  });

  it('answers an injected quota fault with its error name until cleared', async () => {
    mock.resend.injectFault({
      status: 429,
      errorName: 'daily_quota_exceeded',
      message: 'You have reached your daily email sending quota.',
    });
    for (let i = 0; i < 3; i++) {
      const { error } = await resend().emails.send(email('a@example.com'));
      assert.equal(error?.name, 'daily_quota_exceeded');
    }
    mock.resend.clearFaults();
    assert.equal((await resend().emails.send(email('a@example.com'))).error, null);
  });

  it('shows the retry-after of an injected 429 in the SDK headers', async () => {
    mock.resend.injectFault({ status: 429, count: 1, retryAfterSeconds: 7 });
    const { error, headers } = await resend().emails.send(email('a@example.com'));
    assert.equal(error?.statusCode, 429);
    assert.equal(error?.name, 'rate_limit_exceeded');
    assert.equal(headers?.['retry-after'], '7');
  });

  it('answers 429 rate_limit_exceeded past the rate limit, with rate-limit headers on every send', async () => {
    mock.resend.setRateLimit(2);
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await resend().emails.send(email('a@example.com')));
    assert.deepEqual(results.map((r) => r.error?.statusCode ?? 200), [200, 200, 429]);
    assert.deepEqual(results.map((r) => r.headers?.['ratelimit-remaining']), ['1', '0', '0']);
    assert.equal(results[0]!.headers?.['ratelimit-limit'], '2');
    assert.equal(results[2]!.error?.name, 'rate_limit_exceeded');
    assert.equal(results[2]!.headers?.['retry-after'], '1');
    assert.equal(mock.resend.received().length, 2);
  });

  it('answers 401 missing_api_key without a bearer token', async () => {
    const response = await fetch(`${mock.resendUrl}/emails`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(email('a@example.com')),
    });
    assert.equal(response.status, 401);
    const body = await response.json() as { statusCode: number; name: string };
    assert.equal(body.statusCode, 401);
    assert.equal(body.name, 'missing_api_key');
    assert.deepEqual(mock.resend.calls().map((c) => c.status), [401]);
  });
});

describe('Postmark mock', () => {
  it('records a single email with headers, metadata, tag and stream', async () => {
    const result = await postmark().sendEmail({
      ...message('"Ada, L." <ada@example.com>'),
      TextBody: 'Hi',
      ReplyTo: 'reply@example.com',
      Tag: 'newsletter',
      Headers: [{ Name: 'X-Newsletter', Value: 'nl-1' }],
      Metadata: { newsletter_id: 'nl-1' },
    });
    assert.equal(result.ErrorCode, 0);
    assert.equal(result.Message, 'OK');
    assert.equal(result.To, '"Ada, L." <ada@example.com>');
    assert.match(result.MessageID, /^[0-9a-f-]{36}$/);
    const [received] = mock.postmark.received();
    assert.deepEqual({ ...received, receivedAt: '' }, {
      provider: 'postmark',
      messageId: result.MessageID,
      from: 'news@example.com',
      to: ['"Ada, L." <ada@example.com>'],
      subject: 'Hello',
      html: '<p>Hi</p>',
      text: 'Hi',
      replyTo: 'reply@example.com',
      headers: { 'X-Newsletter': 'nl-1' },
      tags: { newsletter_id: 'nl-1' },
      tag: 'newsletter',
      messageStream: 'broadcast',
      receivedAt: '',
    });
  });

  it('keeps Tag apart from a Metadata field named tag, in the search and in webhooks', async () => {
    await postmark().sendEmail({ ...message('a@example.com'), Tag: 'nl-1', Metadata: { tag: 'spring' } });
    const [received] = mock.postmark.received();
    assert.deepEqual([received!.tag, received!.tags], ['nl-1', { tag: 'spring' }]);
    const found = await postmark().getOutboundMessages({ count: 10, offset: 0, tag: 'nl-1' });
    assert.equal(found.TotalCount, 1);
    assert.equal(JSON.parse(postmarkWebhook(received!, 'delivered').body).Tag, 'nl-1');
  });

  it("refuses Metadata and Tag beyond Postmark's limits: 10 fields, names of 20 characters, values of 80, a Tag of 1000", async () => {
    const refused = async (extra: Record<string, unknown>) =>
      (await postmark().sendEmailBatch([{ ...message('a@example.com'), ...extra }]))[0]!.ErrorCode;
    const fields = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, 'v']));
    assert.equal(await refused({ Metadata: fields(10) }), 0);
    assert.equal(await refused({ Metadata: fields(11) }), 300);
    assert.equal(await refused({ Metadata: { ['k'.repeat(21)]: 'v' } }), 300);
    assert.equal(await refused({ Metadata: { k: 'v'.repeat(81) } }), 300);
    assert.equal(await refused({ Tag: 't'.repeat(1001) }), 300);
    assert.equal(mock.postmark.received().length, 1);
  });

  it('answers a batch with HTTP 200 and one element per message, an inactive one failing with 406', async () => {
    mock.postmark.failAddresses('inactive', ['gone@example.com']);
    mock.postmark.failAddresses('invalid', ['bad@example.com']);
    const results = await postmark().sendEmailBatch([
      message('a@example.com'),
      message('gone@example.com'),
      message('bad@example.com'),
      message('c@example.com'),
    ]);
    assert.deepEqual(results.map((r) => r.ErrorCode), [0, 406, 300, 0]);
    assert.match(results[1]!.Message, /Found inactive addresses: gone@example\.com\. Inactive recipients/);
    assert.equal(results[2]!.Message, "Invalid 'To' address: 'bad@example.com'.");
    assert.deepEqual(mock.postmark.received().map((e) => [e.messageId, e.to[0]]), [
      [results[0]!.MessageID, 'a@example.com'],
      [results[3]!.MessageID, 'c@example.com'],
    ]);
    assert.deepEqual(mock.postmark.calls().map((c) => [c.path, c.status, c.messages]), [['/email/batch', 200, 4]]);
  });

  it('throws InactiveRecipientsError with the recipients on a single send to inactive addresses', async () => {
    mock.postmark.failAddresses('inactive', ['gone@example.com', 'left@example.com']);
    const error = await rejection(postmark().sendEmail(message('gone@example.com, Left <left@example.com>')));
    assert.ok(error instanceof Errors.InactiveRecipientsError);
    assert.equal(error.statusCode, 422);
    assert.equal(error.code, 406);
    assert.deepEqual(error.recipients, ['gone@example.com', 'left@example.com']);
    assert.deepEqual(mock.postmark.received(), []);
  });

  it('throws InvalidEmailRequestError (ErrorCode 300) for a malformed address', async () => {
    const error = await rejection(postmark().sendEmail(message('not-an-address')));
    assert.ok(error instanceof Errors.InvalidEmailRequestError);
    assert.equal(error.code, 300);
    assert.equal(error.message, "Invalid 'To' address: 'not-an-address'.");
  });

  it('rejects an unknown message stream with ErrorCode 1235', async () => {
    const error = await rejection(postmark().sendEmail(message('a@example.com', { MessageStream: 'newsletters' })));
    assert.ok(error instanceof Errors.ApiInputError);
    assert.equal(error.code, 1235);
  });

  it('answers more than 500 messages with 422 ErrorCode 410', async () => {
    const batch = Array.from({ length: 501 }, (_, i) => message(`u${i}@example.com`));
    const error = await rejection(postmark().sendEmailBatch(batch));
    assert.ok(error instanceof Errors.ApiInputError);
    assert.equal(error.statusCode, 422);
    assert.equal(error.code, 410);
    assert.deepEqual(mock.postmark.received(), []);
  });

  it('answers an injected 503 with ServiceUnavailablerError for the next N calls, then sends', async () => {
    mock.postmark.injectFault({ status: 503, count: 1 });
    const error = await rejection(postmark().sendEmail(message('a@example.com')));
    assert.ok(error instanceof Errors.ServiceUnavailablerError);
    assert.equal(error.statusCode, 503);
    assert.equal(error.code, 100);
    const result = await postmark().sendEmail(message('a@example.com'));
    assert.equal(result.ErrorCode, 0);
    assert.deepEqual(mock.postmark.calls().map((c) => c.status), [503, 200]);
  });

  it('answers an injected 500 with InternalServerError', async () => {
    mock.postmark.injectFault({ status: 500, count: 1 });
    const error = await rejection(postmark().sendEmailBatch([message('a@example.com')]));
    assert.ok(error instanceof Errors.InternalServerError);
    assert.equal(error.statusCode, 500);
  });

  it('answers 429 past the rate limit with RateLimitExceededError', async () => {
    mock.postmark.setRateLimit(1);
    await postmark().sendEmail(message('a@example.com'));
    const error = await rejection(postmark().sendEmail(message('a@example.com')));
    assert.ok(error instanceof Errors.RateLimitExceededError);
    assert.equal(error.statusCode, 429);
    assert.equal(mock.postmark.received().length, 1);
  });

  it('throws InvalidAPIKeyError for a token other than the configured one', async () => {
    const strict = await startMockProviders({ postmarkServerToken: 'right-token' });
    try {
      const error = await rejection(postmark('wrong-token', strict.postmarkUrl).sendEmail(message('a@example.com')));
      assert.ok(error instanceof Errors.InvalidAPIKeyError);
      assert.equal(error.statusCode, 401);
      assert.equal(error.code, 10);
      const ok = await postmark('right-token', strict.postmarkUrl).sendEmail(message('a@example.com'));
      assert.equal(ok.ErrorCode, 0);
    } finally {
      await strict.close();
    }
  });

  it('records an Idempotency-Key header sent anyway, without acting on it', async () => {
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${mock.postmarkUrl}/email`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-postmark-server-token': 't', 'idempotency-key': 'k' },
        body: JSON.stringify(message('a@example.com')),
      });
      assert.equal(response.status, 200);
    }
    assert.deepEqual(mock.postmark.received().map((e) => e.idempotencyKey), ['k', 'k']);
  });
});

describe('HTTP control API', () => {
  async function control(url: string, method: string, path: string, body?: unknown) {
    const response = await fetch(`${url}${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    return { status: response.status, body: await response.json() as Record<string, unknown> };
  }

  it('injects a fault and lists emails, filtered by recipient', async () => {
    assert.equal((await control(mock.resendUrl, 'POST', '/__mock/faults', { status: 500, count: 1 })).status, 200);
    const failed = await resend().emails.send(email('a@example.com'));
    assert.equal(failed.error?.statusCode, 500);
    assert.equal(failed.error?.name, 'internal_server_error');
    await resend().batch.send([email('a@example.com'), email('B <b@example.com>')]);
    const all = await control(mock.resendUrl, 'GET', '/__mock/emails');
    assert.equal((all.body['emails'] as unknown[]).length, 2);
    const onlyB = await control(mock.resendUrl, 'GET', '/__mock/emails?to=B@example.com');
    assert.deepEqual((onlyB.body['emails'] as { to: string[] }[]).map((e) => e.to), [['B <b@example.com>']]);
    const calls = await control(mock.resendUrl, 'GET', '/__mock/calls');
    assert.deepEqual((calls.body['calls'] as { status: number }[]).map((c) => c.status), [500, 200]);
  });

  it('steers Postmark addresses, rate limit, latency and reset over HTTP', async () => {
    assert.deepEqual((await control(mock.postmarkUrl, 'GET', '/__mock/health')).body, {
      status: 'ok',
      provider: 'postmark',
    });
    await control(mock.postmarkUrl, 'POST', '/__mock/addresses', { kind: 'inactive', emails: ['gone@example.com'] });
    const [result] = await postmark().sendEmailBatch([message('gone@example.com')]);
    assert.equal(result!.ErrorCode, 406);
    await control(mock.postmarkUrl, 'POST', '/__mock/latency', { ms: 50 });
    await control(mock.postmarkUrl, 'POST', '/__mock/rate-limit', { requestsPerSecond: 100 });
    const started = Date.now();
    await postmark().sendEmail(message('a@example.com'));
    assert.ok(Date.now() - started >= 45);
    assert.equal((await control(mock.postmarkUrl, 'POST', '/__mock/reset')).status, 200);
    assert.deepEqual(mock.postmark.received(), []);
    assert.deepEqual(mock.postmark.calls(), []);
    assert.equal((await postmark().sendEmailBatch([message('gone@example.com')]))[0]!.ErrorCode, 0);
  });

  it('answers bad control input with 400 and a JSON message', async () => {
    for (
      const [path, body] of [
        ['/__mock/faults', { status: 200 }],
        ['/__mock/faults', { status: 503, count: 0 }],
        ['/__mock/latency', { ms: -1 }],
        ['/__mock/addresses', { kind: 'bounced', emails: ['a@example.com'] }],
        ['/__mock/rate-limit', { requestsPerSecond: 0 }],
        ['/__mock/rate-limit', {}],
        ['/__mock/faults', 'nope'],
      ] as const
    ) {
      const answer = await control(mock.resendUrl, 'POST', path, body);
      assert.equal(answer.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.equal(typeof answer.body['message'], 'string');
    }
    assert.throws(() => mock.resend.injectFault({ status: 99 }), /status/);
  });
});

describe('large runs', () => {
  it('keeps only provider, id, recipients and time of each email with keepBodies false', async () => {
    const own = await startMockProviders({ keepBodies: false });
    try {
      const { data } = await new Resend('re_test', { baseUrl: own.resendUrl }).batch.send(
        [email('a@example.com', { tags: [{ name: 'n', value: '1' }], headers: { 'X-A': '1' } })],
        { idempotencyKey: 'k-1' },
      );
      const [received] = own.resend.received();
      assert.deepEqual({ ...received, receivedAt: '' }, {
        provider: 'resend',
        messageId: data!.data[0]!.id,
        from: '',
        to: ['a@example.com'],
        subject: '',
        headers: {},
        tags: {},
        receivedAt: '',
      });
      assert.match(received!.receivedAt, /^\d{4}-\d\d-\d\dT/);
      await postmark('t', own.postmarkUrl).sendEmail(message('b@example.com'));
      assert.deepEqual(Object.keys(own.postmark.received()[0]!).sort(), [
        'from',
        'headers',
        'messageId',
        'provider',
        'receivedAt',
        'subject',
        'tags',
        'to',
      ]);
    } finally {
      await own.close();
    }
  });

  it('counts emails, distinct recipients and calls by status at GET /__mock/stats', async () => {
    const empty = await (await fetch(`${mock.resendUrl}/__mock/stats`)).json();
    assert.deepEqual(empty, { emails: 0, uniqueRecipients: 0, calls: 0, byStatus: {} });
    mock.resend.injectFault({ status: 503, count: 1 });
    await resend().batch.send([email('a@example.com')]);
    await resend().batch.send([email('a@example.com'), email('B@example.com')]);
    await resend().emails.send(email('b@example.com'));
    const stats = await new MockProvidersClient(mock.resendUrl, mock.postmarkUrl).stats('resend');
    const received = mock.resend.received();
    assert.deepEqual({ ...stats, firstReceivedAt: '', lastReceivedAt: '' }, {
      emails: 3,
      uniqueRecipients: 2,
      calls: 3,
      byStatus: { '200': 2, '503': 1 },
      firstReceivedAt: '',
      lastReceivedAt: '',
    });
    assert.equal(stats.firstReceivedAt, received[0]!.receivedAt);
    assert.equal(stats.lastReceivedAt, received[2]!.receivedAt);
  });
});

describe('lifecycle', () => {
  it('close() resolves promptly with keep-alive and in-flight connections open', async () => {
    const own = await startMockProviders();
    const client = new Resend('re_test', { baseUrl: own.resendUrl });
    assert.equal((await client.emails.send(email('a@example.com'))).error, null);
    own.resend.setLatency(60_000);
    const pending = client.emails.send(email('a@example.com'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await own.close();
    assert.ok(Date.now() - started < 1000);
    // What the SDK gives on a dropped connection: no status, name application_error.
    const { data, error } = await pending;
    assert.equal(data, null);
    assert.equal(error?.name, 'application_error');
    assert.equal(error?.statusCode, null);
  });

  it('makes the SDKs report network failures once closed', async () => {
    const own = await startMockProviders();
    await own.close();
    await own.close();
    const { error, headers } = await new Resend('re_test', { baseUrl: own.resendUrl }).emails.send(
      email('a@example.com'),
    );
    assert.deepEqual({ ...error }, {
      name: 'application_error',
      statusCode: null,
      message: 'Unable to fetch data. The request could not be resolved.',
    });
    assert.equal(headers, null);
    const failure = await rejection(postmark('t', own.postmarkUrl).sendEmail(message('a@example.com')));
    assert.equal(failure.constructor, Errors.PostmarkError);
    assert.equal(failure.statusCode, 0);
    assert.equal(failure.code, 0);
  });
});

describe('webhooks', () => {
  /** receiver records every POST it gets and answers 200. */
  async function receiver(): Promise<
    {
      url: string;
      posts: { headers: Record<string, string>; body: string }[];
      close(): void;
    }
  > {
    const { createServer } = await import('node:http');
    const posts: { headers: Record<string, string>; body: string }[] = [];
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      posts.push({
        headers: req.headers as Record<string, string>,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return {
      url: `http://127.0.0.1:${port}/hook`,
      posts,
      close: () => server.close(),
    };
  }

  it('sends Resend webhooks the official SDK verifies, a redelivery with the same id', async () => {
    const hook = await receiver();
    try {
      const secret = `whsec_${Buffer.from('mock-webhook-secret').toString('base64')}`;
      await resend().emails.send({
        ...email('ada@example.com'),
        tags: [{ name: 'newsletter_id', value: 'nl-1' }],
      });
      mock.resend.setWebhook({ url: hook.url, secret });
      assert.deepEqual(
        await mock.resend.emitEvents('bounced', ['ADA@example.com'], {
          times: 2,
        }),
        [200, 200],
      );
      assert.equal(hook.posts.length, 2);
      assert.equal(
        hook.posts[0]!.headers['svix-id'],
        hook.posts[1]!.headers['svix-id'],
      );
      const [first] = hook.posts;
      const event = new Resend('re_test').webhooks.verify({
        payload: first!.body,
        headers: {
          id: first!.headers['svix-id']!,
          timestamp: first!.headers['svix-timestamp']!,
          signature: first!.headers['svix-signature']!,
        },
        webhookSecret: secret,
      });
      assert.equal(event.type, 'email.bounced');
      const data = (event as {
        data: {
          to: string[];
          tags: Record<string, string>;
          bounce: { type: string };
        };
      }).data;
      assert.deepEqual(data.to, ['ada@example.com']);
      assert.deepEqual(data.tags, { newsletter_id: 'nl-1' });
      assert.equal(data.bounce.type, 'Permanent');
      assert.throws(() =>
        new Resend('re_test').webhooks.verify({
          payload: first!.body,
          headers: {
            id: first!.headers['svix-id']!,
            timestamp: first!.headers['svix-timestamp']!,
            signature: first!.headers['svix-signature']!,
          },
          webhookSecret: `whsec_${Buffer.from('another-secret').toString('base64')}`,
        })
      );
    } finally {
      hook.close();
    }
  });

  it('keeps mail from an address after its hard bounce or complaint, as Postmark does (406 inactive), not after a soft bounce', async () => {
    const hook = await receiver();
    try {
      const to = ['hb@example.com', 'sc@example.com', 'sb@example.com'];
      for (const address of to) await postmark().sendEmail(message(address));
      mock.postmark.setWebhook({ url: hook.url, user: 'hooks', password: 'pw' });
      await mock.postmark.emitEvents('bounced', [to[0]!]);
      await mock.postmark.emitEvents('complained', [to[1]!]);
      await mock.postmark.emitEvents('soft_bounced', [to[2]!]);
      for (const address of to.slice(0, 2)) {
        await assert.rejects(postmark().sendEmail(message(address)), Errors.InactiveRecipientsError, address);
      }
      await postmark().sendEmail(message(to[2]!));
    } finally {
      hook.close();
    }
  });

  it('sends Postmark webhook records with basic auth, through the control API too', async () => {
    const hook = await receiver();
    try {
      await postmark().sendEmail(
        message('grace@example.com', {
          Metadata: { newsletter_id: 'nl-2', recipient_id: 'r-7' },
        }),
      );
      const control = await fetch(`${mock.postmarkUrl}/__mock/webhooks`, {
        method: 'POST',
        body: JSON.stringify({ url: hook.url, user: 'hooks', password: 'pw' }),
      });
      assert.equal(control.status, 200);
      const emitted = await fetch(`${mock.postmarkUrl}/__mock/events`, {
        method: 'POST',
        body: JSON.stringify({ kind: 'complained', to: ['grace@example.com'] }),
      });
      assert.deepEqual(await emitted.json(), { statuses: [200] });
      const [post] = hook.posts;
      assert.equal(
        post!.headers.authorization,
        `Basic ${Buffer.from('hooks:pw').toString('base64')}`,
      );
      const record = JSON.parse(post!.body);
      assert.equal(record.RecordType, 'SpamComplaint');
      assert.equal(record.Email, 'grace@example.com');
      assert.deepEqual(record.Metadata, {
        newsletter_id: 'nl-2',
        recipient_id: 'r-7',
      });
      const bad = await fetch(`${mock.postmarkUrl}/__mock/events`, {
        method: 'POST',
        body: JSON.stringify({ kind: 'exploded', to: ['grace@example.com'] }),
      });
      assert.equal(bad.status, 400);
    } finally {
      hook.close();
    }
  });
});
