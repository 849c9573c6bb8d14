import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BackendCallbackError, BackendPageError, createBackendClient, parseRecipientPage } from './client.ts';
import type { ResultsEvent } from '../domain/types.ts';

const page = (recipient: Record<string, unknown>) => ({ recipients: [{ email: 'a@example.com', ...recipient }] });

describe('parseRecipientPage', () => {
  it('reads a page: recipients with their ids, names and variables, and the next cursor', () => {
    const parsed = parseRecipientPage(
      {
        recipients: [{ email: ' a@example.com ', name: 'A', recipient_id: 'r1', variables: { plan: 'pro' } }],
        next_cursor: 'c2',
      },
      100,
    );
    assert.deepEqual(parsed, {
      recipients: [{ email: 'a@example.com', name: 'A', recipientId: 'r1', variables: { plan: 'pro' } }],
      nextCursor: 'c2',
    });
  });

  it('refuses variables that are not strings, naming them: false would render as the truthy "false"', () => {
    for (const value of [false, 42, { nested: 'x' }, null]) {
      assert.throws(
        () => parseRecipientPage(page({ variables: { vip: value } }), 100),
        (err: unknown) =>
          err instanceof BackendPageError && /recipients\[0\]\.variables\.vip: must be a string/.test(err.message),
      );
    }
  });

  it('refuses a recipient_id that is not a string: its results could not be matched back', () => {
    assert.throws(
      () => parseRecipientPage(page({ recipient_id: 42 }), 100),
      (err: unknown) =>
        err instanceof BackendPageError && /recipients\[0\]\.recipient_id: must be a string/.test(err.message),
    );
  });

  it('refuses a recipient_id over 256 characters: it rides in every failure, status and event', () => {
    assert.equal(
      parseRecipientPage(page({ recipient_id: 'r'.repeat(256) }), 100).recipients[0]!.recipientId.length,
      256,
    );
    assert.throws(
      () => parseRecipientPage(page({ recipient_id: 'r'.repeat(257) }), 100),
      (err: unknown) =>
        err instanceof BackendPageError && /recipients\[0\]\.recipient_id: at most 256 characters/.test(err.message),
    );
  });

  it('keeps the first of recipients with the same address on a page: nobody is mailed twice', () => {
    const parsed = parseRecipientPage(
      {
        recipients: [
          { email: 'a@example.com', recipient_id: 'r1' },
          { email: 'b@example.com', recipient_id: 'r2' },
          { email: ' A@Example.com', recipient_id: 'r3' },
        ],
      },
      100,
    );
    assert.deepEqual(parsed.recipients.map((r) => r.recipientId), ['r1', 'r2']);
  });

  it('keeps the first of recipients with the same recipient_id on a page: a part of the page is named by it', () => {
    const parsed = parseRecipientPage(
      {
        recipients: [
          { email: 'a@example.com', recipient_id: 'r1' },
          { email: 'b@example.com', recipient_id: 'r1' },
          { email: 'c@example.com' },
          { email: 'd@example.com' },
        ],
      },
      100,
    );
    assert.deepEqual(parsed.recipients.map((r) => r.email), ['a@example.com', 'c@example.com', 'd@example.com']);
  });
});

describe('the backend client', () => {
  const event: ResultsEvent = { event_id: 'nl1:results:b0-resend', newsletter_id: 'nl1', batch: 0, results: [] };
  const failureOf = (promise: Promise<unknown>) =>
    promise.then(() => assert.fail('expected a failure'), (err: unknown) => {
      assert.ok(err instanceof BackendCallbackError, String(err));
      return err;
    });

  it('does not follow a redirect with a callback: retried, naming where it points (a GET answering 200 would have lost it)', async () => {
    const requests: string[] = [];
    const server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      if (req.url!.startsWith('/moved')) return res.writeHead(200).end('{}');
      res.writeHead(301, { location: '/moved' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const client = createBackendClient({ url: `http://127.0.0.1:${port}`, token: 'secret-token' });
      const err = await failureOf(client.postResults(event));
      assert.equal(err.retryable, true, 'BACKEND_URL is wrong: a person fixes it, nothing may be lost meanwhile');
      assert.match(err.message, /301.*\/moved/);
      assert.deepEqual(requests, ['POST /api/internal/newsletters/nl1/results']);
    } finally {
      server.close();
    }
  });

  it('follows a redirect for a page read (a GET stays a GET), and names none of its credentials for a callback', async () => {
    const server = createServer((req, res) => {
      if (req.url!.startsWith('/moved')) {
        return res.writeHead(200).end(JSON.stringify({ recipients: [{ email: 'a@example.com' }] }));
      }
      const port = (server.address() as AddressInfo).port;
      const location = req.method === 'GET' ? '/moved?t=1' : `http://user:pw@127.0.0.1:${port}/moved?t=1`;
      res.writeHead(302, { location }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const client = createBackendClient({ url: `http://127.0.0.1:${port}` });
      const page = await client.fetchRecipientPage({ newsletterId: 'nl1', listId: 'l', cursor: '', limit: 10 });
      assert.deepEqual(page.recipients.map((r) => r.email), ['a@example.com']);
      const err = await failureOf(client.postResults(event));
      assert.match(err.message, /302 to http:\/\/127\.0\.0\.1:\d+\/moved:/);
      assert.ok(!err.message.includes('pw'), err.message);
    } finally {
      server.close();
    }
  });

  it('does not follow a page read to another origin (fetch would drop the token): retried, naming where it points', async () => {
    const elsewhere: string[] = [];
    const other = createServer((req, res) => {
      elsewhere.push(`${req.method} ${req.url} ${req.headers.authorization ?? 'no token'}`);
      res.writeHead(401).end();
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const otherPort = (other.address() as AddressInfo).port;
    const server = createServer((_req, res) => {
      // http to https, or to another host: here, another port of the same address is another origin.
      res.writeHead(301, { location: `http://127.0.0.1:${otherPort}/api/internal/x` }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const client = createBackendClient({ url: `http://127.0.0.1:${port}`, token: 'secret-token' });
      const err = await failureOf(
        client.fetchRecipientPage({ newsletterId: 'nl1', listId: 'l', cursor: '', limit: 10 }),
      );
      assert.equal(err.status, 301);
      assert.equal(err.retryable, true, 'BACKEND_URL is wrong: a person fixes it');
      assert.match(
        err.message,
        new RegExp(`301 to http://127\\.0\\.0\\.1:${otherPort}/api/internal/x: check BACKEND_URL`),
      );
      assert.deepEqual(elsewhere, [], 'the other origin was never asked (its 401 would end the newsletter)');
    } finally {
      server.close();
      other.close();
    }
  });

  it('does not ask again when a redirect names no place to go: retried, saying so', async () => {
    let asked = 0;
    const server = createServer((_req, res) => {
      asked += 1;
      res.writeHead(302).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const client = createBackendClient({ url: `http://127.0.0.1:${port}` });
      const err = await failureOf(
        client.fetchRecipientPage({ newsletterId: 'nl1', listId: 'l', cursor: '', limit: 10 }),
      );
      assert.equal(err.retryable, true);
      assert.match(err.message, /302 to nowhere said/);
      assert.equal(asked, 1);
    } finally {
      server.close();
    }
  });

  it('refuses a page body over the limit, declared or streamed, and one that is not JSON, as malformed pages (retried)', async () => {
    const big = JSON.stringify({ recipients: [{ email: 'a@example.com', variables: { pad: 'x'.repeat(2_000) } }] });
    const server = createServer((req, res) => {
      if (req.url!.includes('list_id=declared')) return res.writeHead(200, { 'content-length': big.length }).end(big);
      if (req.url!.includes('list_id=streamed')) {
        res.writeHead(200); // chunked: no length said
        res.write(big.slice(0, 800));
        return setTimeout(() => res.end(big.slice(800)), 20);
      }
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const client = createBackendClient({ url: `http://127.0.0.1:${port}`, maxPageBytes: 1_000 });
      const read = (listId: string) =>
        client.fetchRecipientPage({ newsletterId: 'nl1', listId, cursor: '', limit: 10 }).then(
          () => assert.fail('expected a refusal'),
          (err: unknown) => {
            assert.ok(err instanceof BackendPageError, String(err));
            return err.message;
          },
        );
      assert.equal(await read('declared'), `recipient page: body of ${big.length} bytes over the 1000-byte limit`);
      assert.equal(await read('streamed'), 'recipient page: body over the 1000-byte limit');
      assert.equal(await read('html'), 'recipient page: not JSON (18 bytes, text/html)');
      const pageOk = createBackendClient({ url: `http://127.0.0.1:${port}` });
      const page = await pageOk.fetchRecipientPage({ newsletterId: 'nl1', listId: 'streamed', cursor: '', limit: 10 });
      assert.deepEqual(
        page.recipients.map((r) => r.email),
        ['a@example.com'],
        'within the limit, a chunked page reads whole',
      );
    } finally {
      server.close();
    }
  });

  it('reads a page body cut off by the call timeout as the backend unreachable (retried), not as a malformed page', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"recipients": [');
      // …and nothing more.
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const client = createBackendClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 300 });
      const err = await failureOf(
        client.fetchRecipientPage({ newsletterId: 'nl1', listId: 'l', cursor: '', limit: 10 }),
      );
      assert.equal(err.retryable, true);
      assert.match(err.message, /^backend unreachable: page body cut off \(/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('says why the backend is unreachable, not only that a fetch failed', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const err = await failureOf(createBackendClient({ url: `http://127.0.0.1:${port}` }).postResults(event));
    assert.equal(err.retryable, true);
    assert.match(err.message, /backend unreachable: .*ECONNREFUSED/);
  });
});
