/**
 * A worker that has not cached a newsletter reads its history from the server in pages. A local
 * activity's marker that fell just past a page boundary made that replay fail for good
 * (TMPRL1100 on the `results-written-off` patch that follows the count at the end), and the
 * newsletter hung with its callbacks owed (src/telemetry/lifecycle-sink.ts). A tiny page size
 * puts boundaries everywhere; newsletters of different sizes put them at different events.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { workflowIdFor } from '../../src/domain/types.ts';
import { eventually } from '../support/eventually.ts';
import { newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { finalStatus } from '../support/grpc.ts';
import { workflowTaskTrouble } from '../support/history.ts';
import { type Stack, startStack } from './harness.ts';

const NEWSLETTERS = 16;

describe('newsletter history read in pages', { timeout: 300_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack(
      { NEWSLETTER_BATCH_SIZE: '1', EMAIL_CONCURRENCY_LIMIT: '2' },
      ['--dynamic-config-value', 'frontend.historyMaxPageSize=4'],
    );
  });
  after(async () => {
    await stack?.close();
  });

  it('a new worker replays finished newsletters from paged history and settles their callbacks', async () => {
    // The backend is down: each newsletter finishes and stays open, its results owed.
    stack.backend.failNext(1_000_000, 503);
    const ids = Array.from({ length: NEWSLETTERS }, (_, i) => newsletterId(`paged-${i + 1}`));
    for (const [i, id] of ids.entries()) {
      await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(i + 1, `pg${i + 1}`)), stack.auth);
    }
    for (const id of ids) assert.equal((await finalStatus(stack, id, 120_000)).state, NewsletterState.COMPLETED);
    // A new worker has none of them cached: the backend's recovery makes each replay its whole history.
    await stack.restartWorker();
    stack.backend.failNext(0, 503);
    for (const id of ids) {
      const owed = await eventually(async () => {
        const status = (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth).response).status;
        return status?.callbacksOwed === 0 ? status : undefined;
      }, 90_000).catch(async (err: unknown) => {
        throw new Error(`${id}: ${String(err)}\n${await workflowTaskTrouble(stack.env.client, workflowIdFor(id))}`);
      });
      assert.equal(owed.state, NewsletterState.COMPLETED);
      const trouble = await workflowTaskTrouble(stack.env.client, workflowIdFor(id));
      assert.doesNotMatch(trouble, /NON_DETERMINISTIC/, `${id} failed a workflow task on replay:\n${trouble}`);
    }
  });
});
