/**
 * The suppression list: addresses no newsletter is sent to again, whatever the backend
 * sends — a hard bounce or a spam complaint puts them there (the providers suspend senders
 * who keep mailing them), and so can a person. It lives in Temporal, in SUPPRESSION_SHARDS
 * workflows (`suppression-list-<n>`), an address always in the same one. Pure: the workflow
 * bundle imports this file.
 */

/** SUPPRESSION_SHARDS splits the list so that no workflow carries more than its share through continue-as-new. */
export const SUPPRESSION_SHARDS = 16;

/**
 * SuppressionReason says why an address is on the list; `provider_suppressed`: a provider kept
 * an email from it for its own list (an earlier hard bounce or complaint there, which it does not name).
 */
export type SuppressionReason = 'hard_bounce' | 'complaint' | 'unsubscribe' | 'manual' | 'provider_suppressed';

/** Suppression is one address on the list. */
export interface Suppression {
  /** email is the address, lowercased. */
  email: string;
  reason: SuppressionReason;
  /** source says who put it there: the provider of the event, or "api". */
  source: string;
  /** detail is the provider's explanation or the caller's note. */
  detail?: string;
  createdAt: string;
}

/** normalizeAddress is how the list compares addresses: trimmed, lowercased. */
export const normalizeAddress = (email: string): string => email.trim().toLowerCase();

/** shardOf is the shard an address lives in (FNV-1a of the normalized address). */
export function shardOf(email: string): number {
  let hash = 0x811c9dc5;
  for (const char of normalizeAddress(email)) {
    hash ^= char.codePointAt(0)!;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % SUPPRESSION_SHARDS;
}

/** byShard groups values by the shard of their address. */
export function byShard<T>(items: T[], addressOf: (item: T) => string): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const shard = shardOf(addressOf(item));
    const group = groups.get(shard);
    if (group) group.push(item);
    else groups.set(shard, [item]);
  }
  return groups;
}

/**
 * SHARD_MAX_BYTES bounds a shard's entries, as JSON: it carries them through continue-as-new in one
 * payload, which Temporal refuses over 2 MiB once compressed, and the codec refuses to inflate over
 * 64 MiB. Entries without a detail (imports, provider_suppressed) compress worst, about 4.6:1: 8 MiB of
 * them is 1.75 MiB (some 80,000 addresses a shard of ~100 bytes, over a million in all; bounces with
 * their details, ~185 bytes, some 45,000). A shard over either limit would stop for good, every send with it.
 */
export const SHARD_MAX_BYTES = 8 * 1024 * 1024;
/** SHARD_FULL is the failure type of an addition refused because its shard is full. */
export const SHARD_FULL = 'SuppressionShardFull';
/** entryBytes is what one entry adds to its shard (SHARD_MAX_BYTES): its JSON's UTF-8 bytes. */
export const entryBytes = (s: Suppression): number => new TextEncoder().encode(JSON.stringify(s)).length;

/** suppressionWorkflowId names a shard's workflow. */
export const suppressionWorkflowId = (shard: number): string => `suppression-list-${shard}`;

/**
 * ChangeLog numbers a shard's changes (its version) and answers what changed since a version,
 * for the workers' copies of the shard. It keeps at least `max` recent changes (up to twice as
 * many: trimmed by halves, as an update may carry a thousand addresses); a reader further behind
 * gets `undefined` and must reload every entry. Pure: it lives inside the shard workflow.
 */
export class ChangeLog {
  readonly #max: number;
  /** #changes[i] made version #start + i + 1; an entry is an addition, its absence a removal. */
  #changes: Array<{ email: string; entry?: Suppression }> = [];
  #start = 0;

  constructor(max: number) {
    this.#max = max;
  }

  /** version counts the changes recorded so far. */
  get version(): number {
    return this.#start + this.#changes.length;
  }

  /** added records an address put on the list; removed one taken off. */
  added(entry: Suppression): void {
    this.#record({ email: entry.email, entry });
  }

  removed(email: string): void {
    this.#record({ email });
  }

  /** since answers what changed after version, or undefined when the log no longer reaches back to it. */
  since(version: number): { added: Suppression[]; removed: string[] } | undefined {
    if (version < this.#start || version > this.version) return undefined;
    const added = new Map<string, Suppression>();
    const removed = new Set<string>();
    for (const { email, entry } of this.#changes.slice(version - this.#start)) {
      if (entry) {
        added.set(email, entry);
        removed.delete(email);
      } else {
        added.delete(email);
        removed.add(email);
      }
    }
    return { added: [...added.values()], removed: [...removed] };
  }

  #record(change: { email: string; entry?: Suppression }): void {
    this.#changes.push(change);
    if (this.#changes.length > 2 * this.#max) {
      const dropped = this.#changes.length - this.#max;
      this.#changes = this.#changes.slice(dropped);
      this.#start += dropped;
    }
  }
}
