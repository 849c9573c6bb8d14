/**
 * The suppression list: addresses no newsletter is sent to again, whatever the backend
 * sends — a hard bounce or a spam complaint puts them there (the providers suspend senders
 * who keep mailing them), and so can a person. It lives in Temporal, in SUPPRESSION_SHARDS
 * workflows (`suppression-list-<n>`), an address always in the same one. Pure: the workflow
 * bundle imports this file.
 */

/** SUPPRESSION_SHARDS splits the list so that no workflow carries more than its share through continue-as-new. */
export const SUPPRESSION_SHARDS = 16;

/** SuppressionReason says why an address is on the list. */
export type SuppressionReason = 'hard_bounce' | 'complaint' | 'manual';

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

/** suppressionWorkflowId names a shard's workflow. */
export const suppressionWorkflowId = (shard: number): string => `suppression-list-${shard}`;
