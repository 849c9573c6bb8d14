/**
 * NewsletterGateway: everything the bridge asks Temporal about newsletters. One
 * newsletter is one workflow with id `newsletter-<newsletter_id>`.
 */
import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { maskAddresses } from '../domain/addresses.ts';
import { FINAL_STATES, type NewsletterInput, type NewsletterStatus, workflowIdFor } from '../domain/types.ts';
import {
  CANCEL_DRAIN_WAIT_MS,
  cancelUpdate,
  getStatusQuery,
  newsletterWorkflow,
  pauseUpdate,
  rescheduleUpdate,
  resumeUpdate,
} from '../workflows/newsletter.ts';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from './errors.ts';
import type { Suppression } from '../domain/suppression.ts';
import { decodePageToken, SuppressionList } from '../suppression/list.ts';
import { type Engagement, eventsWorkflowIdFor, NO_ENGAGEMENT } from '../domain/events.ts';
import { engagementQuery } from '../workflows/events.ts';
import { within } from './limits.ts';
import { linkToNewsletterTrace, traceMemo } from '../telemetry/tracing.ts';

/** StartResult says which workflow carries the newsletter and whether it already existed. */
export interface StartResult {
  workflowId: string;
  /** runId is the newsletter's first run (later runs continue it as new). */
  runId: string;
  alreadyExists: boolean;
  /** traceId is the newsletter's trace, when it already existed (the first SendNewsletter's). */
  traceId?: string;
}

const CLOSED_WITHOUT_RESULT = new Set(['FAILED', 'TERMINATED', 'TIMED_OUT', 'CANCELLED']);

/** PendingActivity is what describe() tells of an activity under way (the fields read here). */
type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;

/**
 * readTrouble says why a running newsletter's backend list is not being read: the page activity
 * failing and retried (a malformed page, a backend down), as Temporal records its last failure.
 * The workflow cannot say it: it hears of the read only when the read ends, and it does not end.
 */
export function readTrouble(pending: PendingActivity[] | null | undefined): string | undefined {
  const read = pending?.find((a) => a.activityType?.name === 'readPages' && a.lastFailure);
  if (!read) return undefined;
  const failures = Math.max(1, (read.attempt ?? 2) - 1);
  const next = read.nextAttemptScheduleTime?.seconds;
  const when = next == null ? '' : `, next try at ${new Date(Number(next) * 1000).toISOString()}`;
  return `reading the recipient list failed ${failures} time${failures === 1 ? '' : 's'} (retried${when}): ${
    maskAddresses(read.lastFailure!.message ?? 'no message')
  }`;
}
/** ENGAGEMENT_WAIT_MS bounds the engagement query: without it, a status would wait on the events workflow's worker. */
const ENGAGEMENT_WAIT_MS = 2_000;

/**
 * NewsletterGateway starts, reads and steers newsletter workflows. Each operation's Temporal
 * calls share one deadline, callMs away (limits.ts `within`); pause, resume and cancel wait
 * for the workflow's answer, cancel up to CANCEL_DRAIN_WAIT_MS for in-flight batches, so
 * they get that much more.
 */
export class NewsletterGateway {
  readonly #client: Client;
  readonly #taskQueue: string;
  readonly #callMs: number;
  readonly #suppressions: SuppressionList;

  constructor(client: Client, taskQueue: string, callMs: number) {
    this.#client = client;
    this.#taskQueue = taskQueue;
    this.#callMs = callMs;
    this.#suppressions = new SuppressionList(client, taskQueue);
  }

  /** listSuppressions pages through the suppression list; InvalidArgumentError for a token it did not give. */
  listSuppressions(pageToken: string, pageSize: number): ReturnType<SuppressionList['list']> {
    const token = decodePageToken(pageToken);
    if (!token) throw new InvalidArgumentError(['page_token: not a token ListSuppressions gave']);
    return within(this.#client, this.#callMs, () => this.#suppressions.list(token, pageSize));
  }

  /** addSuppressions puts addresses on the list; answers how many were new. */
  addSuppressions(entries: Suppression[]): Promise<number> {
    return within(this.#client, this.#callMs, () => this.#suppressions.add(entries));
  }

  /** removeSuppressions takes addresses off the list; answers how many were on it. */
  removeSuppressions(emails: string[]): Promise<number> {
    return within(this.#client, this.#callMs, () => this.#suppressions.remove(emails));
  }

  /** start starts the newsletter's workflow once; a repeated id reports the existing one and starts nothing. */
  start(input: NewsletterInput): Promise<StartResult> {
    return within(this.#client, this.#callMs, () => this.#start(input));
  }

  async #start(input: NewsletterInput): Promise<StartResult> {
    const workflowId = workflowIdFor(input.newsletterId);
    try {
      const handle = await this.#client.workflow.start(newsletterWorkflow, {
        workflowId,
        taskQueue: this.#taskQueue,
        args: [input],
        // A newsletter id is sent at most once, even after it finished or failed (for as long as
        // the namespace's retention keeps the closed run: README "How a newsletter flows").
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        workflowIdConflictPolicy: 'FAIL',
        staticSummary: input.listId === undefined
          ? `newsletter ${input.newsletterId} to ${input.recipients.length} recipients`
          : `newsletter ${input.newsletterId} to backend list ${input.listId}`,
        // Shown in the Temporal UI: from a workflow to its trace.
        ...(input.traceId ? { memo: traceMemo(input.traceId) } : {}),
      });
      return { workflowId, runId: handle.firstExecutionRunId, alreadyExists: false };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      return await this.#existing(input.newsletterId);
    }
  }

  /** existing answers what a repeated SendNewsletter answers when the newsletter exists; undefined when it does not. */
  existing(newsletterId: string): Promise<StartResult | undefined> {
    return within(this.#client, this.#callMs, () =>
      this.#existing(newsletterId).catch((err) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      }));
  }

  /** #existing describes the newsletter that exists: its first run and its trace, not this call's. */
  async #existing(newsletterId: string): Promise<StartResult> {
    const workflowId = workflowIdFor(newsletterId);
    const description = await this.#client.workflow.getHandle(workflowId).describe();
    const traceId = description.memo?.['trace_id'];
    return {
      workflowId,
      runId: description.raw.workflowExecutionInfo?.firstRunId || description.runId,
      alreadyExists: true,
      ...(typeof traceId === 'string' ? { traceId } : {}),
    };
  }

  /** status reads the live status of a running newsletter, or the final one of a closed newsletter, with its engagement. */
  status(newsletterId: string): Promise<NewsletterStatus> {
    return within(this.#client, this.#callMs, () => this.#withEngagement(newsletterId, this.#status(newsletterId)));
  }

  /**
   * #withEngagement adds the engagement counts to a status, as every call that answers one gives
   * it; when they cannot be read, the status says so instead of failing (a pause or cancel has
   * been applied by then, and a finished newsletter's status needs no worker, its counts do).
   */
  async #withEngagement(
    newsletterId: string,
    status: NewsletterStatus | Promise<NewsletterStatus>,
  ): Promise<NewsletterStatus> {
    const [s, engagement] = await Promise.all([status, this.#engagement(newsletterId)]);
    return engagement ? { ...s, engagement } : { ...s, engagementUnavailable: true };
  }

  /** #engagement is what the newsletter's events workflow counted (none before its first webhook); undefined when it did not answer. */
  async #engagement(newsletterId: string): Promise<Engagement | undefined> {
    try {
      const handle = this.#client.workflow.getHandle(eventsWorkflowIdFor(newsletterId));
      return await within(
        this.#client,
        Math.min(ENGAGEMENT_WAIT_MS, this.#callMs),
        () => handle.query(engagementQuery),
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { ...NO_ENGAGEMENT };
      return undefined;
    }
  }

  /** #status reads a newsletter's status; steering (pause, resume, cancel, reschedule) links this call to its trace. */
  async #status(newsletterId: string, steering = false): Promise<NewsletterStatus> {
    const handle = this.#client.workflow.getHandle(workflowIdFor(newsletterId));
    let description;
    try {
      description = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new NotFoundError(`newsletter ${newsletterId} not found`);
      throw err;
    }
    // Made in a trace of its own (the caller's): the newsletter's trace shows it stopped, this tells why.
    if (steering) linkToNewsletterTrace(description.memo);
    const state = description.status.name;
    if (state === 'RUNNING') {
      const status = await handle.query(getStatusQuery);
      const trouble = status.reason ? undefined : readTrouble(description.raw.pendingActivities);
      return trouble ? { ...status, reason: trouble } : status;
    }
    if (state === 'COMPLETED') return (await handle.result()) as NewsletterStatus;
    if (CLOSED_WITHOUT_RESULT.has(state)) {
      // The workflow ended abnormally (terminated, timed out...): report FAILED with the progress we can recover.
      const last = await handle.query(getStatusQuery).catch(() => undefined);
      const status = last ?? emptyStatus(newsletterId, description.startTime);
      return {
        ...status,
        // Whatever was not sent or failed by then never will be: sent + failed + skipped = total.
        skipped: Math.max(status.skipped, status.totalRecipients - status.sent - status.failed),
        // Its lifecycle callbacks not yet taken never will be sent; results handed to results workflows still are.
        callbacksOwed: status.owedResults ?? 0,
        owedEvents: [],
        state: 'FAILED',
        endTime: (description.closeTime ?? new Date()).toISOString(),
        reason: `workflow ${state.toLowerCase()}`,
      };
    }
    return await handle.query(getStatusQuery);
  }

  /** pause stops new batches; a closed newsletter just reports its status. */
  pause(newsletterId: string): Promise<NewsletterStatus> {
    return this.#steer(newsletterId, (h) => h.executeUpdate(pauseUpdate));
  }

  /** resume continues a paused newsletter. */
  resume(newsletterId: string): Promise<NewsletterStatus> {
    return this.#steer(newsletterId, (h) => h.executeUpdate(resumeUpdate));
  }

  /** reschedule moves a scheduled newsletter's send time; FailedPreconditionError once sending has begun. */
  reschedule(newsletterId: string, sendAt: Date): Promise<NewsletterStatus> {
    return within(this.#client, this.#callMs, async () => {
      const refuse = (state: string) =>
        new FailedPreconditionError(`newsletter ${newsletterId} is ${state}: it cannot be rescheduled`);
      const current = await this.#status(newsletterId, true);
      if (FINAL_STATES.includes(current.state)) throw refuse(current.state);
      try {
        const handle = this.#client.workflow.getHandle(workflowIdFor(newsletterId));
        return await this.#withEngagement(
          newsletterId,
          handle.executeUpdate(rescheduleUpdate, { args: [sendAt.toISOString()] }),
        );
      } catch (err) {
        // The workflow's validator refused it (sending has begun): nothing was recorded.
        if (err instanceof WorkflowUpdateFailedError) {
          throw new FailedPreconditionError(`newsletter ${newsletterId}: ${err.cause?.message ?? err.message}`);
        }
        // The newsletter closed between the read and the update (a cancel): refused as above, not "not found".
        const closed = await this.#closedMeanwhile(newsletterId);
        if (closed) throw refuse(closed.state);
        throw err;
      }
    });
  }

  /** cancel stops new batches and waits (bounded) for in-flight ones; returns the status. */
  cancel(newsletterId: string, reason: string): Promise<NewsletterStatus> {
    return this.#steer(newsletterId, (h) => h.executeUpdate(cancelUpdate, { args: [reason] }));
  }

  /** #closedMeanwhile is the newsletter's status when an update failed because it had closed since it was read. */
  async #closedMeanwhile(newsletterId: string): Promise<NewsletterStatus | undefined> {
    const after = await this.#status(newsletterId);
    return FINAL_STATES.includes(after.state) ? after : undefined;
  }

  #steer(
    newsletterId: string,
    act: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<NewsletterStatus>,
  ): Promise<NewsletterStatus> {
    return within(this.#client, this.#callMs + CANCEL_DRAIN_WAIT_MS, async () => {
      const current = await this.#status(newsletterId, true);
      if (FINAL_STATES.includes(current.state)) {
        return await this.#withEngagement(newsletterId, current);
      }
      try {
        return await this.#withEngagement(
          newsletterId,
          act(this.#client.workflow.getHandle(workflowIdFor(newsletterId))),
        );
      } catch (err) {
        // The workflow may have finished between the read and the update.
        const closed = await this.#closedMeanwhile(newsletterId);
        if (closed) return await this.#withEngagement(newsletterId, closed);
        throw err;
      }
    });
  }
}

function emptyStatus(newsletterId: string, startTime: Date): NewsletterStatus {
  return {
    newsletterId,
    state: 'FAILED',
    totalRecipients: 0,
    sent: 0,
    failed: 0,
    skipped: 0,
    batchesTotal: 0,
    batchesCompleted: 0,
    sentByProvider: {},
    failures: [],
    startTime: startTime.toISOString(),
    callbacksOwed: 0,
    recipientsComplete: false,
  };
}
