/**
 * The page activity: reads ahead in a backend recipient list. It returns each page's
 * cursor and size, never its recipients, so the workflow can plan batches while the
 * recipients stay out of its history; the pages stay in this worker's cache for the
 * send activities that follow. A list the backend refuses fails for good (sources.ts).
 */
import { BackendPageError } from '../backend/client.ts';
import { cursorHash } from '../domain/cursors.ts';
import type { ReadPagesInput, ReadPagesResult } from '../domain/types.ts';
import type { BatchSource } from './sources.ts';

/** createPageActivities builds readPages around the worker's batch source. */
export function createPageActivities(deps: { source: BatchSource }) {
  return {
    async readPages(input: ReadPagesInput): Promise<ReadPagesResult> {
      const pages: ReadPagesResult['pages'] = [];
      const read = new Set<string>();
      // Pages earlier reads got (the newsletter remembers the list's first and latest cursors).
      const before = new Set(input.readBefore ?? []);
      let cursor: string | undefined = input.cursor;
      // Empty pages count too: a long run of them must not keep one activity reading for ever.
      while (cursor !== undefined && read.size < input.maxPages) {
        // The list's first page, before the backend ever took the token: a refusal there is final. (A run
        // begun before cursors were remembered has none before it, but its reads start further on.)
        const first = cursor === '' && read.size === 0 && before.size === 0;
        read.add(cursor);
        const page = await deps.source.page(input.newsletterId, input.listId, cursor, input.limit, first);
        if (page.recipients.length > 0) pages.push({ cursor, count: page.recipients.length });
        const next = page.nextCursor;
        if (next !== undefined && (read.has(next) || before.has(cursorHash(next)))) {
          // Retried like any malformed answer (the backend may fix it: the page is asked for again,
          // not taken from the cache); never followed: it would read for ever, or turn the same
          // page into batch after batch.
          deps.source.forget(input.newsletterId, input.listId, cursor, input.limit);
          throw new BackendPageError(
            `recipient page: next_cursor ${JSON.stringify(next.slice(0, 64))} leads back to a page already read`,
          );
        }
        cursor = next;
      }
      return { pages, ...(cursor !== undefined ? { nextCursor: cursor } : {}) };
    },
  };
}
