import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { BackendCallbackError, type BackendClient, createBackendClient } from '../backend/client.ts';
import type { NewsletterInput } from '../domain/types.ts';
import { createBatchSource, PAGE_MAX_AGE_MS } from './sources.ts';

const definition: NewsletterInput = {
  newsletterId: 'nl1',
  content: { subject: 's', text: 't', from: 'a@example.com', tags: {} },
  recipients: [],
  listId: 'list-1',
  batchSize: 100,
  concurrency: 1,
  primaryProvider: 'resend',
  unsubscribeBaseUrl: 'https://app.example.com',
};

/** answering is a backend whose page reads fail with err. */
const answering = (err: Error) => ({ fetchRecipientPage: () => Promise.reject(err) }) as unknown as BackendClient;

async function failure(run: Promise<unknown>): Promise<Error> {
  try {
    await run;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the read to fail');
}

describe('createBatchSource', () => {
  it("fails a batch's page for good when the backend says the list is gone (404): not retried for ever", async () => {
    const source = createBatchSource(
      () => Promise.resolve(definition),
      answering(new BackendCallbackError('backend answered 404', 404, false)),
    );
    const err = await failure(
      source.recipients({ workflowId: 'w', runId: 'r' }, { index: 3, cursor: 'c3', count: 100 }),
    );
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.deepEqual([err.type, err.nonRetryable], ['BackendListRefused', true]);
    assert.match(err.message, /list-1.*404/);
  });

  it("retries a page refused with 401 or 403 (a token being rotated mid-send), which only the list's first read takes as final", async () => {
    for (const status of [401, 403]) {
      const source = createBatchSource(
        () => Promise.resolve(definition),
        answering(new BackendCallbackError(`backend answered ${status}`, status, true)),
      );
      const toSend = await failure(
        source.recipients({ workflowId: 'w', runId: 'r' }, { index: 3, cursor: 'c3', count: 100 }),
      );
      assert.ok(!(toSend instanceof ApplicationFailure && toSend.nonRetryable), `${status}: ${toSend}`);
      const first = await failure(source.page('nl1', 'list-1', '', 100, true));
      assert.ok(first instanceof ApplicationFailure && first.nonRetryable, `${status}: ${first}`);
      const ahead = await failure(source.page('nl1', 'list-1', 'c3', 100));
      assert.ok(!(ahead instanceof ApplicationFailure && ahead.nonRetryable), `${status}: ${ahead}`);
    }
  });

  it('reads a page again when it waited in the cache longer than PAGE_MAX_AGE_MS: who left meanwhile is not mailed', async () => {
    let now = 0;
    let members = ['a@example.com', 'b@example.com'];
    const backend = {
      fetchRecipientPage: () =>
        Promise.resolve({
          recipients: members.map((email) => ({ email, name: '', recipientId: email, variables: {} })),
        }),
    } as unknown as BackendClient;
    const source = createBatchSource(() => Promise.resolve(definition), backend, { now: () => now });
    const batch = { index: 0, cursor: 'c0', count: 2 };
    assert.equal((await source.page('nl1', 'list-1', 'c0', 100)).recipients.length, 2);
    members = ['a@example.com'];
    now += PAGE_MAX_AGE_MS;
    assert.equal((await source.recipients({ workflowId: 'w', runId: 'r' }, batch)).length, 2, 'still fresh: cached');
    now += 1;
    assert.deepEqual((await source.recipients({ workflowId: 'w', runId: 'r' }, batch)).map((r) => r.email), [
      'a@example.com',
    ]);
  });

  it('ends a backend list on a worker without BACKEND_URL, saying so, instead of retrying it for ever', async () => {
    const source = createBatchSource(() => Promise.resolve(definition), createBackendClient({}));
    for (
      const read of [
        source.page('nl1', 'list-1', 'c3', 100),
        source.recipients({ workflowId: 'w', runId: 'r' }, { index: 3, cursor: 'c3', count: 100 }),
      ]
    ) {
      const err = await failure(read);
      assert.ok(err instanceof ApplicationFailure && err.nonRetryable, String(err));
      assert.match(err.message, /list-1 cannot be read: BACKEND_URL is not set/);
    }
  });

  it('ends the newsletter at a refusal that will not change on retry (400, 409, 410, 422), read ahead or to send', async () => {
    for (const status of [400, 409, 410, 422]) {
      const source = createBatchSource(
        () => Promise.resolve(definition),
        answering(new BackendCallbackError(`backend answered ${status}`, status, false)),
      );
      const ahead = await failure(source.page('nl1', 'list-1', 'c3', 100));
      assert.ok(ahead instanceof ApplicationFailure && ahead.nonRetryable, `${status}: ${ahead}`);
      assert.match(ahead.message, new RegExp(`list-1.*${status}`));
      const toSend = await failure(
        source.recipients({ workflowId: 'w', runId: 'r' }, { index: 3, cursor: 'c3', count: 100 }),
      );
      assert.ok(toSend instanceof ApplicationFailure && toSend.nonRetryable, `${status}: ${toSend}`);
    }
  });

  it('leaves an outage to be retried', async () => {
    const source = createBatchSource(
      () => Promise.resolve(definition),
      answering(new BackendCallbackError('backend answered 503', 503, true)),
    );
    const err = await failure(source.page('nl1', 'list-1', '', 100));
    assert.ok(!(err instanceof ApplicationFailure && err.nonRetryable), String(err));
  });
});
