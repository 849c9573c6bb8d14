/**
 * SuppressionCopies: the suppression list as a send checks it — a copy of each shard kept
 * in the worker, brought up to date from the shard workflow when it is older than
 * `maxAgeMs` (one `changesQuery` answering only what changed). A send asks nothing of
 * Temporal while its worker's copies are fresh, however many sends run: asking each shard
 * for each send cost a query task per shard per request, which made a worker sending
 * CPU-bound about three times slower once the list had entries (README "Suppression").
 *
 * The price is a bound on staleness: a change reaches every send that begins more than
 * `maxAgeMs` after the call that made it returned (SUPPRESSION_MAX_AGE_MS).
 */
import { byShard, normalizeAddress, type Suppression } from '../domain/suppression.ts';
import type { ShardChanges } from '../workflows/suppression.ts';

/** ChangesReader asks a shard what changed since a copy; null when the shard has never existed. */
export type ChangesReader = (
  shard: number,
  since: { runId: string; version: number } | null,
) => Promise<ShardChanges | null>;

/** Copy is one shard as of a version of one of its runs, and when it was known to be current. */
interface Copy {
  /** runId is '' when the shard was not found. */
  runId: string;
  firstRunId?: string;
  version: number;
  entries: Map<string, Suppression>;
  /** checkedAt is when the refresh that made it began: the shard had no later change then. */
  checkedAt: number;
}

/**
 * LostShard hears of a shard whose addresses are kept from an earlier copy: it was not found any more
 * (`gone`: deleted, or past retention), or answered from a new workflow under its id (`restarted`).
 */
export type LostShard = (shard: number, how: 'gone' | 'restarted', kept: number) => void;

export class SuppressionCopies {
  readonly #read: ChangesReader;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #lost: LostShard;
  readonly #copies = new Map<number, Copy>();
  /** #kept holds, by shard, the entries of copies whose shard lost its history: suppressed until the worker restarts. */
  readonly #kept = new Map<number, Map<string, Suppression>>();
  readonly #refreshing = new Map<number, { startedAt: number; done: Promise<Copy> }>();

  // Ages are measured on the monotonic clock: with the wall clock, one set back (NTP, a resumed VM)
  // kept every copy "fresh" until it caught up again, and changes never reached this worker's sends.
  constructor(
    read: ChangesReader,
    maxAgeMs: number,
    now: () => number = () => performance.now(),
    lost: LostShard = () => {},
  ) {
    this.#read = read;
    this.#maxAgeMs = maxAgeMs;
    this.#now = now;
    this.#lost = lost;
  }

  /**
   * among answers the entries of those addresses that are on the list, by normalized address:
   * from copies no older than maxAgeMs, or with `fresh` from copies brought up to date now.
   */
  async among(emails: string[], options: { fresh?: boolean } = {}): Promise<Map<string, Suppression>> {
    const found = new Map<string, Suppression>();
    await Promise.all([...byShard([...new Set(emails.map(normalizeAddress))], (e) => e)].map(async ([shard, group]) => {
      const copy = options.fresh
        ? await this.#startRefresh(shard, this.#copies.get(shard), this.#now())
        : await this.#current(shard);
      const kept = this.#kept.get(shard);
      for (const email of group) {
        const entry = copy.entries.get(email) ?? kept?.get(email);
        if (entry) found.set(email, entry);
      }
    }));
    return found;
  }

  /**
   * current is a copy of the shard checked no more than maxAgeMs ago, refreshing it (once for
   * every caller) if needed. A copy past half its maximum age is refreshed in the background
   * while sends go on using it, so that a steady stream of sends seldom waits for a query (a wait
   * of varying length before each provider request would bunch them up against a rate limit).
   */
  #current(shard: number): Promise<Copy> | Copy {
    const now = this.#now();
    const copy = this.#copies.get(shard);
    const running = this.#refreshing.get(shard);
    if (copy && now - copy.checkedAt <= this.#maxAgeMs) {
      if (!running && now - copy.checkedAt > this.#maxAgeMs / 2) {
        // Its failure fails nobody: the next send past the maximum age waits for a refresh of its own.
        this.#startRefresh(shard, copy, now).catch(() => undefined);
      }
      return copy;
    }
    if (running && now - running.startedAt <= this.#maxAgeMs) return running.done;
    return this.#startRefresh(shard, copy, now);
  }

  #startRefresh(shard: number, copy: Copy | undefined, now: number): Promise<Copy> {
    const refresh = { startedAt: now, done: this.#refresh(shard, copy, now) };
    this.#refreshing.set(shard, refresh);
    const forget = () => {
      if (this.#refreshing.get(shard) === refresh) this.#refreshing.delete(shard);
    };
    refresh.done.then(forget, forget);
    return refresh.done;
  }

  async #refresh(shard: number, copy: Copy | undefined, startedAt: number): Promise<Copy> {
    const changes = await this.#read(shard, copy ? { runId: copy.runId, version: copy.version } : null);
    // A shard's addresses are lost only with its history: a copy that held some keeps them when the
    // shard is gone or starts anew empty (both fail closed: they are not mailed), and says so.
    const held = copy && copy.entries.size > 0 ? copy : undefined;
    const lost = changes === null
      ? 'gone'
      : changes.entries && held?.firstRunId !== undefined && changes.firstRunId !== undefined &&
          held.firstRunId !== changes.firstRunId
      ? 'restarted'
      : undefined;
    if (held && lost) {
      this.#lost(shard, lost, held.entries.size);
      const kept = this.#kept.get(shard) ?? new Map<string, Suppression>();
      for (const [email, entry] of held.entries) kept.set(email, entry);
      this.#kept.set(shard, kept);
    }
    const next: Copy = changes === null ? { runId: '', version: 0, entries: new Map(), checkedAt: startedAt } : {
      runId: changes.runId,
      version: changes.version,
      entries: changes.entries ? new Map(changes.entries.map((s) => [s.email, s])) : applied(copy!, changes),
      checkedAt: startedAt,
    };
    if (changes?.firstRunId) next.firstRunId = changes.firstRunId;
    // A slower refresh begun earlier must not replace a newer copy.
    const latest = this.#copies.get(shard);
    if (!latest || latest.checkedAt <= next.checkedAt) this.#copies.set(shard, next);
    return next;
  }
}

/** applied is a copy's entries with the changes since its version. */
function applied(copy: Copy, changes: ShardChanges): Map<string, Suppression> {
  const entries = new Map(copy.entries);
  for (const email of changes.removed ?? []) entries.delete(email);
  for (const entry of changes.added ?? []) entries.set(entry.email, entry);
  return entries;
}
