/**
 * Where activities read what the workflow does not carry: a newsletter's definition
 * (content and inline recipients, from the start input of its first run) and the
 * recipients of one batch (a slice of the inline list, or a backend page by cursor).
 *
 * Both are cached per worker process, so the content reaches a worker once per
 * newsletter (not once per activity) and a page read ahead by `readPages` is not read
 * again by the batch that sends it. Concurrent reads of the same key share one request.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { BackendCallbackError, type BackendClient } from '../backend/client.ts';
import { decodePayload } from '../data-converter.ts';
import {
  type BackendRecipientPage,
  type BatchRef,
  type DefinitionRef,
  FAILURE_TYPES,
  type NewsletterInput,
  planOf,
  type Recipient,
} from '../domain/types.ts';

/** DefinitionLoader reads the start input of a newsletter's first run. */
export type DefinitionLoader = (ref: DefinitionRef) => Promise<NewsletterInput>;

/** SourceOptions size the caches. */
export interface SourceOptions {
  /** definitions is how many newsletter definitions a worker keeps (each up to ~1.5 MiB). */
  definitions?: number;
  /** pages is how many backend pages a worker keeps. */
  pages?: number;
  /** pageMaxAgeMs is how long a page read stays good: one older is read again (PAGE_MAX_AGE_MS). */
  pageMaxAgeMs?: number;
  /** now is the clock the page ages are read on (tests set it). */
  now?: () => number;
}

/**
 * PAGE_MAX_AGE_MS: a page read ahead is normally sent within seconds; one that waited longer (a
 * pause, an outage, a slow rate) is read again before it is sent, so people who left the list
 * meanwhile are not mailed and a list deleted meanwhile is noticed (404).
 */
export const PAGE_MAX_AGE_MS = 5 * 60_000;

/** BatchSource reads definitions and batch recipients through the worker's caches. */
export interface BatchSource {
  definition(ref: DefinitionRef): Promise<NewsletterInput>;
  /**
   * page reads one backend page (cached) for readPages; `first` says it is the list's first read,
   * where a refused token ends the newsletter (later, it is a token being rotated: retried).
   */
  page(
    newsletterId: string,
    listId: string,
    cursor: string,
    limit: number,
    first?: boolean,
  ): Promise<BackendRecipientPage>;
  /** forget drops a page from the cache: one found malformed is asked for again on the next try. */
  forget(newsletterId: string, listId: string, cursor: string, limit: number): void;
  /** recipients is the batch's recipients, in batch order: inline slice or backend page. */
  recipients(ref: DefinitionRef, batch: BatchRef): Promise<Recipient[]>;
}

/**
 * LruCache keeps the most recently used values, sharing in-flight loads; failed loads are not
 * kept, nor values older than maxAgeMs (from when their load began).
 */
class LruCache<V> {
  readonly #max: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { value: Promise<V>; at: number }>();

  constructor(max: number, maxAgeMs = Infinity, now: () => number = Date.now) {
    this.#max = max;
    this.#maxAgeMs = maxAgeMs;
    this.#now = now;
  }

  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.#entries.get(key);
    this.#entries.delete(key);
    if (hit && this.#now() - hit.at <= this.#maxAgeMs) {
      this.#entries.set(key, hit);
      return hit.value;
    }
    const loading = load();
    const entry = { value: loading, at: this.#now() };
    this.#entries.set(key, entry);
    loading.catch(() => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    return loading;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}

/** createBatchSource builds the cached source over a definition loader and the backend. */
export function createBatchSource(
  loadDefinition: DefinitionLoader,
  backend: BackendClient,
  options: SourceOptions = {},
): BatchSource {
  const definitions = new LruCache<NewsletterInput>(options.definitions ?? 16);
  const pages = new LruCache<BackendRecipientPage>(
    options.pages ?? 256,
    options.pageMaxAgeMs ?? PAGE_MAX_AGE_MS,
    options.now,
  );
  const definition = (ref: DefinitionRef) =>
    definitions.get(`${ref.workflowId}/${ref.runId}`, () => loadDefinition(ref));
  const key = (newsletterId: string, listId: string, cursor: string, limit: number) =>
    JSON.stringify([newsletterId, listId, cursor, limit]);
  const load = (newsletterId: string, listId: string, cursor: string, limit: number, final: readonly number[]) =>
    pages.get(
      key(newsletterId, listId, cursor, limit),
      () =>
        backend.fetchRecipientPage({ newsletterId, listId, cursor, limit }).catch((err) => refused(err, listId, final)),
    );
  return {
    definition,
    page: (newsletterId, listId, cursor, limit, first = false) =>
      load(newsletterId, listId, cursor, limit, first ? LIST_REFUSALS : PAGE_REFUSALS),
    forget: (newsletterId, listId, cursor, limit) => pages.delete(key(newsletterId, listId, cursor, limit)),
    async recipients(ref, batch) {
      const input = await definition(ref);
      const { batchSize } = planOf(input);
      if (input.listId === undefined) {
        return input.recipients.slice(batch.index * batchSize, batch.index * batchSize + batch.count);
      }
      return (await load(input.newsletterId, input.listId, batch.cursor ?? '', batchSize, PAGE_REFUSALS)).recipients;
    },
  };
}

/**
 * LIST_REFUSALS end a newsletter at the first read of its list: the list is unknown (404) or not
 * for this token (401, 403), as the contract says. PAGE_REFUSALS end it at any later read (ahead,
 * or of a page read again to send it): only a list gone (404), which would otherwise be retried
 * for ever; a 401 or 403 once the backend took the token is a token being rotated, retried as
 * callbacks are. Either way, any other answer the backend client does not retry (400, 409, 410,
 * 422: the request itself is refused, and will be again; no BACKEND_URL on this worker) ends it
 * too: page reads are retried without a limit.
 */
const LIST_REFUSALS: readonly number[] = [401, 403, 404];
const PAGE_REFUSALS: readonly number[] = [404];

/**
 * refused turns one of the final statuses into a BackendListRefused failure, not retried (the
 * newsletter then ends FAILED); anything else is rethrown, to be retried.
 */
function refused(err: unknown, listId: string, final: readonly number[]): never {
  if (err instanceof BackendCallbackError && ((err.status !== null && final.includes(err.status)) || !err.retryable)) {
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.backendListRefused,
      message: err.status === null
        ? `recipient list ${listId} cannot be read: ${err.message}`
        : `the backend refused recipient list ${listId} (${err.status})`,
      nonRetryable: true,
    });
  }
  throw err;
}

/**
 * loadDefinitionFromHistory reads the definition from the first event of the newsletter's
 * first run (WorkflowExecutionStarted: its input), through the worker's Temporal client.
 */
export async function loadDefinitionFromHistory(ref: DefinitionRef): Promise<NewsletterInput> {
  const client = Context.current().client;
  const { history } = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId: ref.workflowId, runId: ref.runId },
    maximumPageSize: 1,
  });
  const payload = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new Error(`no start input found for ${ref.workflowId} run ${ref.runId}`);
  return await decodePayload<NewsletterInput>(payload);
}
