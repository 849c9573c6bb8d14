import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { BackendCallbackError, type BackendClient } from '../backend/client.ts';
import type { BackendRecipientPage, ReadPagesInput } from '../domain/types.ts';
import { cursorsReadBefore, rememberCursors } from '../domain/cursors.ts';
import { createPageActivities } from './pages.ts';
import { type BatchSource, createBatchSource } from './sources.ts';

const someone = { email: 'a@example.com', name: 'A', recipientId: 'a', variables: {} };

/** sourceOf answers each cursor with its page (what the backend serves), or throws its error. */
function sourceOf(pages: Record<string, BackendRecipientPage | Error>): BatchSource & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    definition: () => Promise.reject(new Error('not used')),
    recipients: () => Promise.reject(new Error('not used')),
    forget: () => {},
    page: (_newsletterId, _listId, cursor) => {
      reads.push(cursor);
      const page = pages[cursor];
      if (!page) return Promise.reject(new Error(`no page at ${cursor}`));
      return page instanceof Error ? Promise.reject(page) : Promise.resolve(page);
    },
  };
}

const input: ReadPagesInput = {
  ref: { workflowId: 'newsletter-nl1', runId: 'run-1' },
  newsletterId: 'nl1',
  listId: 'list-1',
  cursor: '',
  limit: 100,
  maxPages: 10,
};

async function refusal(run: Promise<unknown>): Promise<Error> {
  try {
    await run;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the read to fail');
}

describe('readPages', () => {
  it('reads up to maxPages pages, cursors and sizes only', async () => {
    const source = sourceOf({
      '': { recipients: [someone, someone], nextCursor: 'b' },
      b: { recipients: [someone] },
    });
    const result = await createPageActivities({ source }).readPages(input);
    assert.deepEqual(result, { pages: [{ cursor: '', count: 2 }, { cursor: 'b', count: 1 }] });
  });

  it('refuses a list whose next_cursor leads back to a page it read: it would never end, or send a page twice', async () => {
    const lists: Array<Record<string, BackendRecipientPage>> = [
      { '': { recipients: [], nextCursor: '' } }, // an empty page pointing at itself
      { '': { recipients: [someone], nextCursor: 'b' }, b: { recipients: [someone], nextCursor: '' } },
    ];
    for (const pages of lists) {
      const err = await refusal(createPageActivities({ source: sourceOf(pages) }).readPages(input));
      assert.match(err.message, /next_cursor .* leads back to a page already read/);
    }
  });

  it('refuses a next_cursor leading back to a page an earlier read of the list got, which it is told of (readBefore)', async () => {
    const source = sourceOf({
      c10: { recipients: [someone], nextCursor: 'c11' },
      c11: { recipients: [someone], nextCursor: 'c2' },
    });
    const readBefore = rememberCursors(undefined, ['', 'c1', 'c2', 'c3']);
    const err = await refusal(
      createPageActivities({ source }).readPages({
        ...input,
        cursor: 'c10',
        readBefore: cursorsReadBefore(readBefore),
      }),
    );
    assert.match(err.message, /next_cursor "c2" leads back to a page already read/);
    assert.ok(!(err instanceof ApplicationFailure && err.nonRetryable), 'retried, like any malformed page');
  });

  it('counts empty pages against maxPages, returning where it got to', async () => {
    const pages: Record<string, BackendRecipientPage> = {};
    for (let i = 0; i < 50; i++) pages[i === 0 ? '' : `c${i}`] = { recipients: [], nextCursor: `c${i + 1}` };
    const source = sourceOf(pages);
    const result = await createPageActivities({ source }).readPages(input);
    assert.deepEqual(result, { pages: [], nextCursor: 'c10' });
    assert.equal(source.reads.length, 10);
  });

  it('asks the backend again, on the next try, for a page whose next_cursor led back: it may have fixed it', async () => {
    const served: Record<string, BackendRecipientPage> = {
      '': { recipients: [someone], nextCursor: 'b' },
      b: { recipients: [someone], nextCursor: 'b' },
    };
    const asked: string[] = [];
    const backend = {
      fetchRecipientPage: ({ cursor }: { cursor: string }) => {
        asked.push(cursor);
        return Promise.resolve(served[cursor]!);
      },
    } as unknown as BackendClient;
    const pages = createPageActivities({
      source: createBatchSource(() => Promise.reject(new Error('not used')), backend),
    });
    const err = await refusal(pages.readPages(input));
    assert.match(err.message, /leads back/);
    served.b = { recipients: [someone] };
    assert.deepEqual(await pages.readPages(input), { pages: [{ cursor: '', count: 1 }, { cursor: 'b', count: 1 }] });
    assert.deepEqual(asked, ['', 'b', 'b'], 'the first page from the cache, the one that led back asked again');
  });

  it("retries a 401 or 403 after the list's first page (the backend took the token: one being rotated), and ends at a 404", async () => {
    const backendAnswering = (status: number) =>
      createBatchSource(
        () => Promise.reject(new Error('not used')),
        {
          fetchRecipientPage: ({ cursor }: { cursor: string }) =>
            cursor === ''
              ? Promise.resolve({ recipients: [someone], nextCursor: 'b' })
              : Promise.reject(new BackendCallbackError(`backend answered ${status}`, status, status !== 404)),
        } as unknown as BackendClient,
      );
    for (const status of [401, 403, 404]) {
      // Later in the same read, or in a later read of the list (readBefore names the pages it got).
      const later = await refusal(createPageActivities({ source: backendAnswering(status) }).readPages(input));
      const again = await refusal(
        createPageActivities({ source: backendAnswering(status) }).readPages({
          ...input,
          cursor: 'b',
          readBefore: cursorsReadBefore(rememberCursors(undefined, [''])),
        }),
      );
      // A run begun before the newsletter remembered its cursors reads on from further in, with none before it.
      const olderRun = await refusal(
        createPageActivities({ source: backendAnswering(status) }).readPages({ ...input, cursor: 'b' }),
      );
      for (const err of [later, again, olderRun]) {
        const final = err instanceof ApplicationFailure && err.nonRetryable;
        assert.equal(final, status === 404, `${status}: ${err}`);
      }
    }
  });

  it('fails for good (not retried) when the backend says the list is unknown or the token is refused', async () => {
    // Through the worker's real source, over a backend that answers status.
    const backendAnswering = (err: Error) =>
      createBatchSource(
        () => Promise.reject(new Error('not used')),
        { fetchRecipientPage: () => Promise.reject(err) } as unknown as BackendClient,
      );
    for (const status of [401, 403, 404]) {
      const source = backendAnswering(new BackendCallbackError(`backend answered ${status}`, status, status !== 404));
      const err = await refusal(createPageActivities({ source }).readPages(input));
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, 'BackendListRefused');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, new RegExp(`list-1.*${status}`));
    }
    // An outage is waited out (retried).
    const down = backendAnswering(new BackendCallbackError('backend answered 503', 503, true));
    const err = await refusal(createPageActivities({ source: down }).readPages(input));
    assert.ok(!(err instanceof ApplicationFailure && err.nonRetryable));
  });
});
