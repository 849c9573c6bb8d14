/**
 * SuppressionList: the suppression list through a Temporal client, as the bridge (RPCs,
 * webhooks) changes and lists it and as workers read each shard's changes for their copies
 * (src/suppression/copies.ts). Each address lives in one shard workflow
 * (src/domain/suppression.ts); adds and removes are updates-with-start, so a shard exists
 * from its first address, and reads of a shard that never had one answer empty.
 */
import {
  type Client,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Buffer } from 'node:buffer';
import {
  byShard,
  normalizeAddress,
  SHARD_FULL,
  type Suppression,
  SUPPRESSION_SHARDS,
  suppressionWorkflowId,
} from '../domain/suppression.ts';
import {
  changesQuery,
  listQuery,
  type ShardChanges,
  suppressionListWorkflow,
  suppressUpdate,
  unsuppressUpdate,
} from '../workflows/suppression.ts';

/** CHANGES_QUERY_TIMEOUT_MS bounds one query for a shard's changes (sends wait for it before their requests). */
const CHANGES_QUERY_TIMEOUT_MS = 10_000;

/** PageToken is where ListSuppressions goes on: a shard and the last address given from it. */
interface PageToken {
  shard: number;
  after: string;
}

const encodeToken = (token: PageToken): string => Buffer.from(JSON.stringify(token)).toString('base64url');

/** decodePageToken reads a token ListSuppressions gave; undefined when it is not one. */
export function decodePageToken(text: string): PageToken | undefined {
  if (!text) return { shard: 0, after: '' };
  try {
    const token = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as PageToken;
    const valid = Number.isInteger(token.shard) && token.shard >= 0 && token.shard < SUPPRESSION_SHARDS &&
      typeof token.after === 'string';
    return valid ? token : undefined;
  } catch {
    return undefined;
  }
}

/**
 * ShardClosedError: a shard's workflow has closed (terminated, by an operator or by Temporal when its
 * continue-as-new went over the payload limit). Its entries live in its history only: starting a new,
 * empty shard under its id would let workers mail every one of them, so the list refuses changes to it.
 */
export class ShardClosedError extends Error {
  constructor(readonly workflowId: string) {
    super(
      `${workflowId} is closed (terminated?): the suppression list cannot change there until it runs again ` +
        '(README "Suppression"); its addresses stay suppressed, and those of other shards in the same call may ' +
        'have changed (a retry is safe)',
    );
    this.name = 'ShardClosedError';
  }
}

/**
 * ShardFullError: an addition refused because its shard holds SHARD_MAX_BYTES of entries already
 * (README "Suppression"): nothing of that shard's part was recorded; other shards' parts may have been.
 */
export class ShardFullError extends Error {
  constructor(detail: string) {
    super(`${detail}: the suppression list takes no more addresses there (README "Suppression")`);
    this.name = 'ShardFullError';
  }
}

export class SuppressionList {
  readonly #client: Client;
  readonly #taskQueue: string;

  constructor(client: Client, taskQueue: string) {
    this.#client = client;
    this.#taskQueue = taskQueue;
  }

  #start(shard: number) {
    return new WithStartWorkflowOperation(suppressionListWorkflow, {
      workflowId: suppressionWorkflowId(shard),
      taskQueue: this.#taskQueue,
      args: [{ shard }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      // Never a new run after a closed one: it would start empty (ShardClosedError).
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
  }

  /** change runs an update-with-start on a shard, refusing it once the shard has closed. */
  async #change<T>(
    shard: number,
    run: (start: WithStartWorkflowOperation<typeof suppressionListWorkflow>) => Promise<T>,
  ) {
    try {
      return await run(this.#start(shard));
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) throw new ShardClosedError(suppressionWorkflowId(shard));
      const cause = (err as { cause?: unknown }).cause;
      if (
        err instanceof WorkflowUpdateFailedError && cause instanceof ApplicationFailure && cause.type === SHARD_FULL
      ) {
        throw new ShardFullError(cause.message);
      }
      throw err;
    }
  }

  /** add puts addresses on the list (one already there keeps its first entry); answers how many were new. */
  async add(entries: Suppression[]): Promise<number> {
    const normalized = entries.map((s) => ({ ...s, email: normalizeAddress(s.email) }));
    const counts = await Promise.all(
      [...byShard(normalized, (s) => s.email)].map(([shard, group]) =>
        this.#change(
          shard,
          (start) =>
            this.#client.workflow.executeUpdateWithStart(suppressUpdate, {
              args: [group],
              startWorkflowOperation: start,
            }),
        )
      ),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** remove takes addresses off the list; answers how many were on it. */
  async remove(emails: string[]): Promise<number> {
    const counts = await Promise.all(
      [...byShard(emails.map(normalizeAddress), (e) => e)].map(([shard, group]) =>
        this.#change(
          shard,
          (start) =>
            this.#client.workflow.executeUpdateWithStart(unsuppressUpdate, {
              args: [group],
              startWorkflowOperation: start,
            }),
        )
      ),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /**
   * changes asks a shard what changed since a copy of it (SuppressionCopies); null when the shard
   * has never existed. One answer serves every send that waits for the copy, so the query runs
   * under a deadline of its own, not under the cancellation of the activity that happened to
   * start it (a cancelled send must not fail the others' check).
   */
  changes(shard: number, since: { runId: string; version: number } | null): Promise<ShardChanges | null> {
    return this.#client.withAbortSignal(new AbortController().signal, () =>
      this.#client.withDeadline(
        Date.now() + CHANGES_QUERY_TIMEOUT_MS,
        () =>
          this.#shard(shard).query(changesQuery, since).catch((err) => {
            if (err instanceof WorkflowNotFoundError) return null;
            throw err;
          }),
      ));
  }

  /** list answers up to pageSize entries from the page token on, and the token of the next page ('' at the end). */
  async list(token: PageToken, pageSize: number): Promise<{ entries: Suppression[]; nextPageToken: string }> {
    const entries: Suppression[] = [];
    let { shard, after } = token;
    while (shard < SUPPRESSION_SHARDS && entries.length < pageSize) {
      const page = await this.#shard(shard).query(listQuery, { after, limit: pageSize - entries.length }).catch(
        (err) => {
          if (err instanceof WorkflowNotFoundError) return { entries: [], total: 0 };
          throw err;
        },
      );
      entries.push(...page.entries);
      if (page.entries.length > 0 && entries.length >= pageSize) {
        after = page.entries.at(-1)!.email;
        break;
      }
      shard += 1;
      after = '';
    }
    const more = shard < SUPPRESSION_SHARDS;
    return { entries, nextPageToken: more ? encodeToken({ shard, after }) : '' };
  }

  #shard(shard: number) {
    return this.#client.workflow.getHandle(suppressionWorkflowId(shard));
  }
}
