/**
 * The callback path: everything this service tells the backend.
 *
 * - Lifecycle events (`started`, `paused:n`, `final`) come from the newsletter workflow
 *   through `notifyBackend`, which Temporal retries with capped backoff for 25 hours.
 * - Per-recipient results come from the activity that produced them (`reportResults`):
 *   posted at once with a short deadline; if the backend does not take them (and for 30 s
 *   after it did not take some: DirectResults), they are handed to a
 *   `newsletterResultsWorkflow` that retries them (`postResults`) for 25 hours, so delivery
 *   never waits for the backend and nothing is dropped silently.
 *
 * A backend that refuses an event for good (4xx other than 408/429) makes it dropped,
 * with an error log; `event_id` lets the backend ignore repeats.
 */
import { activityInfo, Context } from '@temporalio/activity';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import type { NewsletterEventsEvent } from '../../contracts/http/backend.ts';
import { BackendCallbackError, type BackendClient } from '../backend/client.ts';
import { type BackendEvent, type NewsletterState, type ResultsEvent, resultsWorkflowIdFor } from '../domain/types.ts';
import type { Logger } from '../logger.ts';
import type { DeliveryMetrics } from '../telemetry/metrics.ts';
import { inSpan, SpanKind, SpanStatusCode } from '../telemetry/tracing.ts';
import { maskedError } from '../domain/addresses.ts';

/** CallbackDeps are what the callback activities need. */
export interface CallbackDeps {
  backend: BackendClient;
  logger: Logger;
  metrics?: DeliveryMetrics;
  /** handoff starts and finds results workflows (resultsHandoffThroughTemporal). */
  handoff: ResultsHandoff;
  /** direct bounds the direct post of results from a send activity, and skips it while the backend lags (DirectResults). */
  direct: DirectResults;
}

/** DIRECT_PAUSE_MS is how long sends hand results off at once after the backend did not take some in time. */
const DIRECT_PAUSE_MS = 30_000;

/**
 * DirectResults decides, for one worker, whether a send activity posts its results to the backend
 * itself (for up to timeoutMs) before it hands them off. Each post holds the request's place in its
 * newsletter's window, so a backend that lags would slow every send by timeoutMs: once one post
 * fails, sends hand theirs off at once for pauseMs; then one send at a time posts to find out
 * whether the backend is back.
 */
export class DirectResults {
  #pausedUntil = 0;
  #probing = false;

  constructor(
    readonly timeoutMs: number,
    private readonly pauseMs = DIRECT_PAUSE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** begin says whether this send posts its results itself; if so it must call end. */
  begin(): boolean {
    if (this.#pausedUntil === 0) return true;
    if (this.#probing || this.now() < this.#pausedUntil) return false;
    this.#probing = true;
    return true;
  }

  /** end records how a direct post went: the backend answered, did not in time, or the send was abandoned. */
  end(outcome: 'answered' | 'lagged' | 'abandoned'): void {
    this.#probing = false;
    if (outcome === 'answered') this.#pausedUntil = 0;
    else if (outcome === 'lagged') this.#pausedUntil = this.now() + this.pauseMs;
  }
}

type Outcome = 'sent' | 'disabled' | 'rejected';

/** deliver posts one callback, mapping the backend's answer to an outcome or a retryable failure. */
async function deliver(
  deps: CallbackDeps,
  span: string,
  eventId: string,
  newsletterId: string,
  post: () => Promise<void>,
): Promise<Outcome> {
  if (!deps.backend.enabled) {
    deps.metrics?.callback('disabled');
    return 'disabled';
  }
  const log = deps.logger.child({ newsletter_id: newsletterId, event_id: eventId });
  return await inSpan(span, {
    kind: SpanKind.CLIENT,
    attributes: { 'newsletter.event_id': eventId },
  }, async (span) => {
    try {
      await post();
      deps.metrics?.callback('ok');
      return 'sent' as const;
    } catch (err) {
      if (err instanceof BackendCallbackError && !err.retryable) {
        // Not thrown (nothing to retry), yet a failure: the trace shows the event dropped.
        if (err.status !== null) span.setAttribute('http.response.status_code', err.status);
        span.setStatus({ code: SpanStatusCode.ERROR, message: `backend refused it (${err.status}): dropped` });
        deps.metrics?.callback('rejected');
        log.error({ status: err.status }, 'backend refused a callback for good: dropped');
        return 'rejected' as const;
      }
      deps.metrics?.callback('retry');
      log.warn({ err: maskedError(err).message }, 'callback failed: will retry');
      throw ApplicationFailure.retryable((err as Error).message, 'BackendUnavailable');
    }
  });
}

/** createCallbackActivities builds notifyBackend and postResults around their dependencies. */
export function createCallbackActivities(deps: CallbackDeps) {
  return {
    /**
     * countLifecycle counts a newsletter's sending begun or its final state, where it happens: a
     * local activity of the workflow at the transition (a callback waits for the backend, and may
     * be made again by the next run), in chains begun before the lifecycle sink took it over
     * (telemetry/lifecycle-sink.ts says why).
     */
    countLifecycle(transition: { began: true } | { finished: NewsletterState }): Promise<void> {
      if ('began' in transition) deps.metrics?.newsletterStarted();
      else deps.metrics?.newsletterFinished(transition.finished);
      return Promise.resolve();
    },

    /**
     * notifyBackend posts one lifecycle event. A workflow of an earlier release counts its sending
     * begun and ended here (without `counted`): once, on the first attempt.
     */
    async notifyBackend(event: BackendEvent, options?: { counted?: boolean }): Promise<Outcome> {
      if (!options?.counted && activityInfo().attempt === 1) {
        if (event.event_id.endsWith(':started')) deps.metrics?.newsletterStarted();
        if (event.event_id.endsWith(':final')) deps.metrics?.newsletterFinished(event.state);
      }
      return await deliver(
        deps,
        'backend status callback',
        event.event_id,
        event.newsletter_id,
        () => deps.backend.postStatus(event, { signal: Context.current().cancellationSignal }),
      );
    },

    /** runningResults counts the newsletter's results workflows still running (to tell one terminated). */
    runningResults(newsletterId: string): Promise<number> {
      return deps.handoff.running(newsletterId);
    },

    /** postEvents posts one batch of provider events (from a newsletter's events workflow). */
    async postEvents(event: NewsletterEventsEvent): Promise<Outcome> {
      // The events workflow hands each provider event over once: count them once, not once per retry.
      if (activityInfo().attempt === 1) {
        for (const e of event.events) deps.metrics?.deliveryEvent(e.provider, e.kind, e.bounce ?? '');
      }
      return await deliver(
        deps,
        'backend events callback',
        event.event_id,
        event.newsletter_id,
        () => deps.backend.postEvents(event, { signal: Context.current().cancellationSignal }),
      );
    },

    /** postResults posts one request's per-recipient results (from a results workflow). */
    async postResults(event: ResultsEvent): Promise<Outcome> {
      return await deliver(
        deps,
        'backend results callback',
        event.event_id,
        event.newsletter_id,
        () => deps.backend.postResults(event, { signal: Context.current().cancellationSignal }),
      );
    },
  };
}

/**
 * reportResults hands one request's results to the backend from the send activity:
 * directly when the backend answers within the direct post's deadline, otherwise (or while
 * DirectResults holds direct posts back) through a results workflow. Returns true when the
 * results are still owed (handed off).
 */
export async function reportResults(deps: CallbackDeps, event: ResultsEvent): Promise<boolean> {
  if (!deps.backend.enabled) return false;
  // A retry whose earlier attempt handed these results off and died before completing: the
  // results workflow reports back to the newsletter once, so this attempt counts them owed (had
  // it posted them itself and said nothing is owed, the newsletter could close one hand-off early).
  if (activityInfo().attempt > 1 && (await deps.handoff.exists(event))) return true;
  const cancellation = Context.current().cancellationSignal;
  if (deps.direct.begin()) {
    try {
      await inSpan('backend results callback', {
        kind: SpanKind.CLIENT,
        attributes: { 'newsletter.event_id': event.event_id },
      }, () => deps.backend.postResults(event, { timeoutMs: deps.direct.timeoutMs, signal: cancellation }));
      deps.direct.end('answered');
      deps.metrics?.callback('ok');
      return false;
    } catch (err) {
      // Abandoned (its heartbeat timed out, the worker stops): its retry reports these results. A
      // hand-off now could come after the retry's, one settled more than the newsletter counted.
      if (cancellation.aborted) {
        deps.direct.end('abandoned');
        throw err;
      }
      if (err instanceof BackendCallbackError && !err.retryable) {
        deps.direct.end('answered');
        deps.metrics?.callback('rejected');
        deps.logger.error(
          { newsletter_id: event.newsletter_id, event_id: event.event_id, status: err.status },
          'backend refused results for good: dropped',
        );
        return false;
      }
      deps.direct.end('lagged');
      deps.metrics?.callback('retry');
    }
  } else {
    // Held back by DirectResults: no attempt was made, nothing failed.
    deps.metrics?.callback('handed_off');
  }
  return await deps.handoff.start(event);
}

/** ResultsHandoff starts and finds the results workflows that own results the backend did not take. */
export interface ResultsHandoff {
  /** start starts the event's results workflow, or joins the one running; false when one already closed. */
  start(event: ResultsEvent): Promise<boolean>;
  /** exists says whether a results workflow for the event was ever started (running or closed). */
  exists(event: ResultsEvent): Promise<boolean>;
  /** running counts the newsletter's results workflows still running. */
  running(newsletterId: string): Promise<number>;
}

/** resultsHandoffThroughTemporal runs results workflows on taskQueue, through the activity's own Temporal client. */
export function resultsHandoffThroughTemporal(taskQueue: string): ResultsHandoff {
  return {
    async start(event) {
      // Started idempotently by the event id: while a results workflow for this event runs, a
      // retried send activity attaches to it; once it has closed, its results are no longer owed.
      try {
        await Context.current().client.workflow.start('newsletterResultsWorkflow', {
          workflowId: resultsWorkflowIdFor(event.event_id),
          taskQueue,
          args: [event],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
        return true;
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
        throw err;
      }
    },
    async running(newsletterId) {
      // Ids are newsletter-results-<newsletter id>:results:<request>; a newsletter id has no ':'.
      const prefix = resultsWorkflowIdFor(`${newsletterId}:results:`);
      const query = `WorkflowType = 'newsletterResultsWorkflow' AND ExecutionStatus = 'Running' ` +
        `AND WorkflowId STARTS_WITH '${prefix}'`;
      return (await Context.current().client.workflow.count(query)).count;
    },
    async exists(event) {
      try {
        await Context.current().client.workflow.getHandle(resultsWorkflowIdFor(event.event_id)).describe();
        return true;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },
  };
}
