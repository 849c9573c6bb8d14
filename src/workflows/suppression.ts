/**
 * One shard of the suppression list (src/domain/suppression.ts): a workflow that runs for
 * ever, holding its addresses. Added and removed by updates (the caller knows it is done
 * when the call returns), read by queries. It continues as new when its history grows,
 * carrying the addresses.
 *
 * Workers keep a copy of each shard (src/suppression/copies.ts) and bring it up to date with
 * `changesQuery`: each change is numbered (a version), and a reader that gives the run and
 * version of its copy gets what changed since, or every entry when its copy is of another run
 * or older than the change log. Versions and the log live in memory: they are derived from
 * the updates, add no commands, and start again at 0 in each run.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { ChangeLog, entryBytes, SHARD_FULL, SHARD_MAX_BYTES, type Suppression } from '../domain/suppression.ts';

/** suppressUpdate adds addresses (an address already there keeps its first entry); answers how many were new. */
export const suppressUpdate = defineUpdate<number, [Suppression[]]>('suppress');
/** unsuppressUpdate removes addresses; answers how many were there. */
export const unsuppressUpdate = defineUpdate<number, [string[]]>('unsuppress');
/**
 * suppressedAmongQuery answers the entries of the given (normalized) addresses that are on the list. Workers
 * of earlier releases check sends with it (one query per shard and send); kept while they may still run.
 */
export const suppressedAmongQuery = defineQuery<Suppression[], [string[]]>('suppressedAmong');
/** listQuery answers a page of the shard's entries, by address order. */
export const listQuery = defineQuery<{ entries: Suppression[]; total: number }, [{ after: string; limit: number }]>(
  'list',
);

/** ShardChanges brings a reader's copy of a shard to `version` of run `runId`. */
export interface ShardChanges {
  runId: string;
  /** firstRunId names the shard's chain of runs: another one is a new workflow under the shard's id (absent from older shards). */
  firstRunId?: string;
  version: number;
  /** entries is every entry: the reader's copy was of another run, too old for the log, or absent. */
  entries?: Suppression[];
  /** added and removed are the changes since the reader's version (when entries is absent). */
  added?: Suppression[];
  removed?: string[];
}
/** changesQuery answers what changed since a reader's copy (null: the reader has none). */
export const changesQuery = defineQuery<ShardChanges, [{ runId: string; version: number } | null]>('changes');

const CONTINUE_AS_NEW_AFTER_EVENTS = 2_000;
/** CHANGE_LOG_MAX is how many recent changes a shard keeps at least for its readers (ChangeLog). */
const CHANGE_LOG_MAX = 10_000;

/**
 * suppressionListWorkflow holds one shard of the list; maxBytes replaces SHARD_MAX_BYTES (tests lower
 * it). An addition that would take the shard past it is refused whole (SHARD_FULL), before it is recorded.
 */
export async function suppressionListWorkflow(
  input: { shard: number; maxBytes?: number },
  carried?: Suppression[],
): Promise<void> {
  const entries = new Map((carried ?? []).map((s) => [s.email, s]));
  const maxBytes = input.maxBytes ?? SHARD_MAX_BYTES;
  let bytes = 0;
  for (const s of entries.values()) bytes += entryBytes(s);
  const log = new ChangeLog(CHANGE_LOG_MAX);
  setHandler(suppressUpdate, (added: Suppression[]) => {
    let fresh = 0;
    for (const s of added) {
      if (entries.has(s.email)) continue;
      entries.set(s.email, s);
      bytes += entryBytes(s);
      log.added(s);
      fresh += 1;
    }
    return fresh;
  }, {
    validator: (added: Suppression[]) => {
      // An address twice in one call is added once (the first), and counted once.
      const fresh = new Map<string, Suppression>();
      for (const s of added) if (!entries.has(s.email) && !fresh.has(s.email)) fresh.set(s.email, s);
      const more = [...fresh.values()].reduce((n, s) => n + entryBytes(s), 0);
      if (more > 0 && bytes + more > maxBytes) {
        throw ApplicationFailure.create({
          type: SHARD_FULL,
          nonRetryable: true,
          message:
            `suppression shard ${input.shard} is full (${entries.size} addresses, ${bytes} of ${maxBytes} bytes)`,
        });
      }
    },
  });
  setHandler(unsuppressUpdate, (emails: string[]) =>
    emails.filter((email) => {
      const entry = entries.get(email);
      if (!entry) return false;
      entries.delete(email);
      bytes -= entryBytes(entry);
      log.removed(email);
      return true;
    }).length);
  setHandler(changesQuery, (since) => {
    const { runId, firstExecutionRunId: firstRunId } = workflowInfo();
    const { version } = log;
    const changes = since?.runId === runId ? log.since(since.version) : undefined;
    return changes
      ? { runId, firstRunId, version, ...changes }
      : { runId, firstRunId, version, entries: [...entries.values()] };
  });
  setHandler(suppressedAmongQuery, (emails: string[]) => emails.flatMap((email) => entries.get(email) ?? []));
  setHandler(listQuery, ({ after, limit }) => {
    const sorted = [...entries.keys()].sort();
    const from = sorted.findIndex((email) => email > after);
    const page = from < 0 ? [] : sorted.slice(from, from + limit);
    return { entries: page.map((email) => entries.get(email)!), total: entries.size };
  });
  await condition(() => {
    const info = workflowInfo();
    return info.historyLength >= CONTINUE_AS_NEW_AFTER_EVENTS || info.continueAsNewSuggested;
  });
  await condition(allHandlersFinished);
  await continueAsNew<typeof suppressionListWorkflow>(input, [...entries.values()]);
}
