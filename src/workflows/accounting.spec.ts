import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_REPORTED_FAILURES } from '../domain/types.ts';
import { NewsletterAccounting } from './accounting.ts';

const start = () =>
  NewsletterAccounting.start({ newsletterId: 'nl', traceId: 't1', startTime: '2026-01-01T00:00:00Z' });
const failure = (i: number) => ({ email: `f${i}@x.io`, recipientId: `f${i}`, reason: 'invalid', provider: 'resend' });

describe('NewsletterAccounting', () => {
  it('counts sent and failed per provider and completes batches', () => {
    const books = start();
    books.addBatches(2, 20, true);
    books.record({ provider: 'resend', sent: 9, failed: 1, failures: [failure(1)], resultsOwed: false });
    books.completeBatch();
    books.record({ provider: 'postmark', sent: 10, failed: 0, failures: [], resultsOwed: false });
    books.completeBatch();
    const s = books.snapshot();
    assert.deepEqual([s.state, s.totalRecipients, s.sent, s.failed, s.batchesCompleted], ['RUNNING', 20, 19, 1, 2]);
    assert.deepEqual(s.sentByProvider, { resend: 9, postmark: 10 });
    assert.equal(s.failures[0]!.recipientId, 'f1');
    assert.equal(s.traceId, 't1');
  });

  it('counts recipients who joined a backend page after it was read: the total grows, so the counts add up', () => {
    const books = start();
    books.addBatches(1, 4, true); // the page held four when it was read ahead
    books.record({ provider: 'resend', sent: 4, failed: 0, failures: [], resultsOwed: false });
    books.record({ provider: 'resend', sent: 1, failed: 0, failures: [], resultsOwed: false }); // one joined since
    books.completeBatch();
    assert.equal(books.finish('2026-01-01T00:01:00Z'), 'COMPLETED');
    const s = books.snapshot();
    assert.deepEqual([s.totalRecipients, s.sent, s.failed, s.skipped], [5, 5, 0, 0]);
  });

  it('tells a pause the newsletter made itself (it waits for a person) from a pause by a person', () => {
    const books = start();
    books.addBatches(1, 10, true);
    assert.equal(books.pausedBy, undefined);
    books.pause();
    assert.equal(books.pausedBy, 'person');
    books.resume();
    books.pauseItself('paused: every provider refused batch 0 for 12 h; ResumeNewsletter retries it');
    assert.equal(books.pausedBy, 'itself');
    books.resume();
    assert.equal(books.pausedBy, undefined);
  });

  it('keeps at most MAX_REPORTED_FAILURES failures while counting every one', () => {
    const books = start();
    const many = Array.from({ length: MAX_REPORTED_FAILURES + 5 }, (_, i) => failure(i));
    books.record({ provider: 'resend', sent: 0, failed: many.length, failures: many, resultsOwed: false });
    assert.equal(books.snapshot().failures.length, MAX_REPORTED_FAILURES);
    assert.equal(books.snapshot().failed, MAX_REPORTED_FAILURES + 5);
    assert.equal(books.failureSlots, 0);
  });

  it('counts results still owed, whichever of the hand-off and the settled signal comes first, and names the events owed', () => {
    const books = start();
    books.resultsSettled();
    assert.equal(books.resultsOwed, 0);
    books.record({ provider: 'resend', sent: 1, failed: 0, failures: [], resultsOwed: true });
    assert.equal(books.resultsOwed, 0, 'the signal that came first settles the hand-off');
    books.record({ provider: 'resend', sent: 1, failed: 0, failures: [], resultsOwed: true });
    const owed = ['nl:started', 'nl:paused:1'];
    const status = books.snapshot(owed);
    assert.equal(status.callbacksOwed, 3, 'one result batch and two lifecycle events');
    assert.deepEqual([status.owedEvents, status.owedResults], [owed, 1]);
    owed.shift();
    assert.deepEqual(status.owedEvents, ['nl:started', 'nl:paused:1'], 'a copy, not the outbox itself');
  });

  it('knows who paused whatever else sets a reason, and a resume neither undoes a cancel nor hides why the list failed', () => {
    const books = new NewsletterAccounting(start().state, { whoPaused: true });
    books.pause();
    books.cancel('wrong list');
    assert.equal(books.pausedBy, 'person', 'a person paused it; the cancel only drains it');
    books.resume();
    assert.equal(books.snapshot().reason, 'wrong list', 'a resume does not undo a cancel');
    assert.equal(books.currentState(), 'PAUSED');

    const failing = new NewsletterAccounting(start().state, { whoPaused: true });
    failing.pause();
    failing.fail('the backend refused recipient list all (404)');
    assert.equal(failing.pausedBy, 'person');
    failing.resume();
    assert.equal(failing.snapshot().reason, 'the backend refused recipient list all (404)');

    const itself = new NewsletterAccounting(start().state, { whoPaused: true });
    itself.pauseItself('paused: every provider refused batch 3');
    assert.equal(itself.pausedBy, 'itself');
    itself.resume();
    assert.deepEqual([itself.pausedBy, itself.snapshot().reason], [undefined, undefined]);
  });

  it('writes off the results still owed, and a report that comes after all the same counts nothing', () => {
    const books = start();
    books.record({ provider: 'resend', sent: 1, failed: 0, failures: [], resultsOwed: true });
    books.record({ provider: 'resend', sent: 1, failed: 0, failures: [], resultsOwed: true });
    books.resultsSettled();
    assert.equal(books.writeOffResults(), 1);
    assert.equal(books.resultsOwed, 0);
    books.resultsSettled();
    assert.equal(books.resultsOwed, 0);
    assert.deepEqual(
      [books.snapshot().callbacksOwed, books.snapshot().owedResults, books.snapshot().owedEvents],
      [0, 0, []],
    );
  });

  it('pauses, resumes and cancels, and says which state the status shows', () => {
    const books = start();
    assert.equal(books.pause(), true);
    assert.equal(books.currentState(), 'PAUSED');
    books.resume();
    assert.equal(books.currentState(), 'RUNNING');
    assert.equal(books.pauseItself('paused: every provider refused batch 3'), 1);
    assert.equal(books.snapshot().reason, 'paused: every provider refused batch 3');
    assert.equal(books.cancel('stop'), true);
    assert.equal(books.cancel('again'), false, 'a second cancel changes nothing');
    assert.equal(books.pause(), false, 'a cancelled newsletter does not pause');
  });

  it('finishes with true counts: what was never attempted is skipped', () => {
    const books = start();
    books.addBatches(3, 30, true);
    books.record({ provider: 'resend', sent: 10, failed: 0, failures: [], resultsOwed: false });
    books.cancel('stop');
    assert.equal(books.finish('2026-01-01T00:01:00Z'), 'CANCELLED');
    const s = books.snapshot();
    assert.deepEqual([s.state, s.sent, s.failed, s.skipped, s.endTime], [
      'CANCELLED',
      10,
      0,
      20,
      '2026-01-01T00:01:00Z',
    ]);
    assert.equal(s.sent + s.failed + s.skipped, s.totalRecipients);
  });

  it('counts recipients the provider suppresses as skipped, and keeps the sum equal to the total', () => {
    const books = start();
    books.addBatches(1, 10, true);
    books.record({ provider: 'postmark', sent: 7, failed: 1, skipped: 2, failures: [failure(1)], resultsOwed: false });
    assert.equal(books.snapshot().skipped, 2, 'visible while running');
    books.completeBatch();
    assert.equal(books.finish('2026-01-01T00:01:00Z'), 'COMPLETED_WITH_FAILURES');
    const s = books.snapshot();
    assert.deepEqual([s.sent, s.failed, s.skipped, s.totalRecipients], [7, 1, 2, 10]);
  });

  it('reports a cancel that came with the last batch as what happened: completed, nothing skipped', () => {
    const books = start();
    books.addBatches(2, 20, true);
    books.record({ provider: 'resend', sent: 10, failed: 0, failures: [], resultsOwed: false });
    books.cancel('wrong audience');
    // The last batch was in flight when the cancel came: it drains and is sent.
    books.record({ provider: 'resend', sent: 10, failed: 0, failures: [], resultsOwed: false });
    assert.equal(books.finish('2026-01-01T00:01:00Z'), 'COMPLETED');
    const s = books.snapshot();
    assert.deepEqual([s.state, s.sent, s.skipped], ['COMPLETED', 20, 0]);
    assert.match(s.reason ?? '', /^wrong audience: every recipient had been attempted/);
  });

  it('reports CANCELLED when a backend list was still being read, even if every recipient read so far was sent', () => {
    const books = start();
    books.addBatches(1, 10, false);
    books.record({ provider: 'resend', sent: 10, failed: 0, failures: [], resultsOwed: false });
    books.cancel('stop');
    assert.equal(books.finish('2026-01-01T00:01:00Z'), 'CANCELLED');
  });

  it('finishes COMPLETED_WITH_FAILURES when anyone failed, and its state survives a round trip as plain data', () => {
    const books = start();
    books.addBatches(1, 2, true);
    books.record({ provider: 'resend', sent: 1, failed: 1, failures: [failure(0)], resultsOwed: false });
    books.finish('2026-01-01T00:01:00Z');
    const carried = new NewsletterAccounting(JSON.parse(JSON.stringify(books.state)));
    assert.deepEqual(carried.snapshot(), books.snapshot());
    assert.equal(carried.snapshot().state, 'COMPLETED_WITH_FAILURES');
  });

  it('builds lifecycle events with stable ids and the current counts', () => {
    const books = start();
    books.addBatches(1, 5, true);
    assert.deepEqual(books.event('started'), {
      event_id: 'nl:started',
      newsletter_id: 'nl',
      state: 'RUNNING',
      total: 5,
      sent: 0,
      failed: 0,
      skipped: 0,
    });
  });

  it('shows why a running newsletter waits, and never hides a pause or a cancel behind it', () => {
    const books = start();
    books.wait('waiting: every provider refused batch 3');
    assert.deepEqual([books.snapshot().state, books.snapshot().reason], [
      'RUNNING',
      'waiting: every provider refused batch 3',
    ]);
    books.wait(undefined);
    assert.equal(books.snapshot().reason, undefined);
    books.pause();
    books.wait('waiting: again');
    assert.equal(books.snapshot().state, 'PAUSED');
    assert.equal(books.snapshot().reason, undefined, 'a pause by a person keeps its own (empty) reason');
    books.cancel('stop');
    books.wait('waiting: again');
    assert.equal(books.snapshot().reason, 'stop');
  });

  it("drops the outage wait's reason when a person pauses: no next try comes while paused", () => {
    const books = NewsletterAccounting.start({ newsletterId: 'nl', startTime: '2026-01-01T00:00:00Z' });
    books.wait('waiting: every provider refused batch 3, next try 12:04:10 UTC');
    books.pause();
    assert.deepEqual([books.snapshot().state, books.snapshot().reason], ['PAUSED', undefined]);
    // A newsletter that paused itself keeps its reason when a person pauses it too.
    const itself = NewsletterAccounting.start({ newsletterId: 'nl2', startTime: '2026-01-01T00:00:00Z' });
    itself.pauseItself('paused: every provider refused batch 3 for 12 h');
    itself.pause();
    assert.equal(itself.snapshot().reason, 'paused: every provider refused batch 3 for 12 h');
  });

  it('ends FAILED with the reason when its recipient list could not be read, counting what was sent', () => {
    const books = NewsletterAccounting.start({ newsletterId: 'nl', startTime: '2026-01-01T00:00:00Z' });
    books.addBatches(1, 100, false);
    books.record({ provider: 'resend', sent: 100, failed: 0, failures: [], resultsOwed: false });
    books.completeBatch();
    books.fail('the backend refused recipient list l1 (404)');
    assert.equal(books.currentState(), 'RUNNING', 'in-flight batches still land');
    assert.equal(books.finish('2026-01-01T00:01:00Z'), 'FAILED');
    const s = books.snapshot();
    assert.deepEqual([s.state, s.reason, s.sent, s.totalRecipients], [
      'FAILED',
      'the backend refused recipient list l1 (404)',
      100,
      100,
    ]);
    assert.equal(books.event('final').state, 'FAILED');
  });

  it('is SCHEDULED until due, reschedulable until then, PAUSED over SCHEDULED, and never sends a callback while scheduled', () => {
    const books = NewsletterAccounting.start({
      newsletterId: 'nl',
      startTime: '2026-01-01T00:00:00Z',
      sendAt: '2026-01-02T09:00:00.000Z',
    });
    books.addBatches(1, 3, true);
    assert.equal(books.snapshot().state, 'SCHEDULED');
    assert.equal(books.snapshot().scheduledFor, '2026-01-02T09:00:00.000Z');
    assert.throws(() => books.event('started'), /while scheduled/);
    assert.equal(books.reschedule('2026-01-03T09:00:00.000Z'), true);
    assert.equal(books.snapshot().scheduledFor, '2026-01-03T09:00:00.000Z');
    books.pause();
    assert.equal(books.snapshot().state, 'PAUSED');
    books.resume();
    assert.equal(books.snapshot().state, 'SCHEDULED');
    books.due();
    assert.equal(books.snapshot().state, 'RUNNING');
    assert.equal(books.snapshot().scheduledFor, undefined);
    assert.equal(books.reschedule('2026-01-04T09:00:00.000Z'), false, 'sending has begun');
    assert.equal(books.event('started').state, 'RUNNING');
  });

  it('cancelled while scheduled: CANCELLED, every recipient skipped, no longer reschedulable', () => {
    const books = NewsletterAccounting.start({
      newsletterId: 'nl',
      startTime: '2026-01-01T00:00:00Z',
      sendAt: '2026-01-02T09:00:00.000Z',
    });
    books.addBatches(2, 7, true);
    books.cancel('not this week');
    assert.equal(books.isScheduled, false);
    assert.equal(books.reschedule('2026-01-03T09:00:00.000Z'), false);
    assert.equal(books.finish('2026-01-01T01:00:00Z'), 'CANCELLED');
    const s = books.snapshot();
    assert.deepEqual([s.skipped, s.sent, s.scheduledFor], [7, 0, undefined]);
  });
});
