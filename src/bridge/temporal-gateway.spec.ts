import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { NewsletterStatus } from '../domain/types.ts';
import { FailedPreconditionError } from './errors.ts';
import { NewsletterGateway, readTrouble } from './temporal-gateway.ts';

const status = (state: NewsletterStatus['state']): NewsletterStatus => ({
  newsletterId: 'nl1',
  state,
  totalRecipients: 2,
  sent: 0,
  failed: 0,
  skipped: state === 'CANCELLED' ? 2 : 0,
  startTime: new Date(0).toISOString(),
} as unknown as NewsletterStatus);

/**
 * closingUnderIt is a Temporal client whose newsletter is SCHEDULED when read, and closed
 * (cancelled) by the time an update reaches it: the update finds no running workflow.
 */
function closingUnderIt(): Client {
  let closed = false;
  const handle = {
    describe: () =>
      Promise.resolve({
        status: { name: closed ? 'COMPLETED' : 'RUNNING' },
        memo: {},
        startTime: new Date(0),
        raw: {},
      }),
    query: () => Promise.resolve(status('SCHEDULED')),
    result: () => Promise.resolve(status('CANCELLED')),
    executeUpdate: () => {
      closed = true;
      return Promise.reject(new WorkflowNotFoundError('workflow execution already completed', 'newsletter-nl1', 'run'));
    },
  };
  return {
    connection: {},
    withDeadline: <T>(_deadline: number, run: () => Promise<T>) => run(),
    workflow: { getHandle: () => handle },
  } as unknown as Client;
}

describe('NewsletterGateway', () => {
  it('answers a reschedule that meets the newsletter closing under it as refused (FAILED_PRECONDITION), not as unknown', async () => {
    const gateway = new NewsletterGateway(closingUnderIt(), 'newsletters', 5_000);
    await assert.rejects(
      gateway.reschedule('nl1', new Date(Date.now() + 60_000)),
      (err: unknown) =>
        err instanceof FailedPreconditionError && /nl1 is CANCELLED: it cannot be rescheduled/.test(err.message),
    );
  });
});

describe('readTrouble', () => {
  it('says the list read keeps failing, how often, when it is tried next and why, without addresses', () => {
    const reason = readTrouble([
      { activityType: { name: 'sendBatch' }, attempt: 3, lastFailure: { message: 'provider timed out' } },
      {
        activityType: { name: 'readPages' },
        attempt: 4,
        lastFailure: { message: 'recipient page: recipients[2].email is required (near bob@example.com)' },
        nextAttemptScheduleTime: { seconds: 1_800_000_000 } as never,
      },
    ]);
    assert.equal(
      reason,
      'reading the recipient list failed 3 times (retried, next try at 2027-01-15T08:00:00.000Z): ' +
        'recipient page: recipients[2].email is required (near <address>)',
    );
  });

  it('says nothing while the read has not failed, or when no list is read', () => {
    assert.equal(readTrouble([{ activityType: { name: 'readPages' }, attempt: 1 }]), undefined);
    assert.equal(
      readTrouble([{ activityType: { name: 'sendBatch' }, attempt: 5, lastFailure: { message: 'x' } }]),
      undefined,
    );
    assert.equal(readTrouble(undefined), undefined);
  });
});
