/**
 * The page activity: reads ahead in a backend recipient list. It returns each page's
 * cursor and size, never its recipients, so the workflow can plan batches while the
 * recipients stay out of its history; the pages stay in this worker's cache for the
 * send activities that follow.
 */
import type { ReadPagesInput, ReadPagesResult } from '../domain/types.ts';
import type { BatchSource } from './sources.ts';

/** createPageActivities builds readPages around the worker's batch source. */
export function createPageActivities(deps: { source: BatchSource }) {
  return {
    async readPages(input: ReadPagesInput): Promise<ReadPagesResult> {
      const pages: ReadPagesResult['pages'] = [];
      let cursor: string | undefined = input.cursor;
      while (cursor !== undefined && pages.length < input.maxPages) {
        const page = await deps.source.page(input.newsletterId, input.listId, cursor, input.limit);
        if (page.recipients.length > 0) pages.push({ cursor, count: page.recipients.length });
        cursor = page.nextCursor;
      }
      return { pages, ...(cursor !== undefined ? { nextCursor: cursor } : {}) };
    },
  };
}
