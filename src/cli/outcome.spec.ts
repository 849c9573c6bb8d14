import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState, NewsletterStatus } from '../../contracts/index.ts';
import { describeStatus } from './outcome.ts';

const status = (fields: Partial<NewsletterStatus>): NewsletterStatus =>
  NewsletterStatus.create({
    newsletterId: 'nl1',
    state: NewsletterState.COMPLETED,
    totalRecipients: 20,
    sent: 19,
    failed: 1,
    ...fields,
  });

describe('describeStatus', () => {
  it('says state and counts in one line, and nothing of callbacks when none is owed', () => {
    assert.equal(describeStatus(status({}), { owed: true }), 'nl1: COMPLETED, 20 of 20 (sent 19, failed 1, skipped 0)');
  });

  it('names the callbacks the backend has not taken: lifecycle events by name, results by count', () => {
    const owing = status({ callbacksOwed: 4, owedEvents: ['nl1:started', 'nl1:final'], owedResults: 2 });
    assert.equal(
      describeStatus(owing, { owed: true }),
      'nl1: COMPLETED, 20 of 20 (sent 19, failed 1, skipped 0); not yet taken by the backend: started, final, ' +
        'results of 2 requests',
    );
    const one = status({ callbacksOwed: 1, owedResults: 1 });
    assert.match(describeStatus(one, { owed: true }), /; not yet taken by the backend: results of 1 request$/);
    assert.equal(
      describeStatus(owing),
      describeStatus(status({})),
      'only when asked: a watch ends before the final event is taken',
    );
  });

  it('counts them when a bridge of an earlier version does not name them', () => {
    assert.match(
      describeStatus(status({ callbacksOwed: 3 }), { owed: true }),
      /; not yet taken by the backend: 3 callbacks$/,
    );
  });
});
