/**
 * One shard of the suppression list (src/domain/suppression.ts): a workflow that runs for
 * ever, holding its addresses. Added and removed by updates (the caller knows it is done
 * when the call returns, and the next send sees it), read by queries. It continues as new
 * when its history grows, carrying the addresses.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Suppression } from '../domain/suppression.ts';

/** suppressUpdate adds addresses (an address already there keeps its first entry); answers how many were new. */
export const suppressUpdate = defineUpdate<number, [Suppression[]]>('suppress');
/** unsuppressUpdate removes addresses; answers how many were there. */
export const unsuppressUpdate = defineUpdate<number, [string[]]>('unsuppress');
/** suppressedAmongQuery answers the entries of the given (normalized) addresses that are on the list. */
export const suppressedAmongQuery = defineQuery<Suppression[], [string[]]>('suppressedAmong');
/** listQuery answers a page of the shard's entries, by address order. */
export const listQuery = defineQuery<{ entries: Suppression[]; total: number }, [{ after: string; limit: number }]>(
  'list',
);

const CONTINUE_AS_NEW_AFTER_EVENTS = 2_000;

/** suppressionListWorkflow holds one shard of the list. */
export async function suppressionListWorkflow(input: { shard: number }, carried?: Suppression[]): Promise<void> {
  const entries = new Map((carried ?? []).map((s) => [s.email, s]));
  setHandler(suppressUpdate, (added: Suppression[]) => {
    let fresh = 0;
    for (const s of added) {
      if (entries.has(s.email)) continue;
      entries.set(s.email, s);
      fresh += 1;
    }
    return fresh;
  });
  setHandler(unsuppressUpdate, (emails: string[]) => emails.filter((email) => entries.delete(email)).length);
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
