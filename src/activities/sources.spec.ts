import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { BackendCallbackError, type BackendClient } from '../backend/client.ts';
import type { NewsletterInput } from '../domain/types.ts';
import { createBatchSource } from './sources.ts';

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
  it("fails a batch's page for good when the backend no longer serves the list (401, 403, 404): not retried for ever", async () => {
    for (const status of [401, 403, 404]) {
      const source = createBatchSource(
        () => Promise.resolve(definition),
        answering(new BackendCallbackError(`backend answered ${status}`, status, status !== 404)),
      );
      const err = await failure(
        source.recipients({ workflowId: 'w', runId: 'r' }, { index: 3, cursor: 'c3', count: 100 }),
      );
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.deepEqual([err.type, err.nonRetryable], ['BackendListRefused', true]);
      assert.match(err.message, new RegExp(`list-1.*${status}`));
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
