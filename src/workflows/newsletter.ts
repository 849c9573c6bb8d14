/**
 * The newsletter workflow: deterministic orchestration of one send.
 *
 * - Splits recipients into batches of input.batchSize; at most input.concurrency
 *   batches in flight; each batch activity gets only its own recipients.
 * - Failover lives here and only here: a batch goes to the primary provider, and on
 *   a ProviderUnavailable failure the recipients that provider did not settle go to
 *   the other. When every provider refuses, the batch is kept and the newsletter
 *   pauses itself (nothing is lost; ResumeNewsletter retries it).
 * - Pause, resume and cancel are updates; cancel lets in-flight batches finish.
 *   Temporal-level cancellation is honoured the same way.
 * - Backend callbacks go out in order from one pump; they never block delivery.
 * - Continues as new when the server suggests it, carrying progress.
 */
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import {
  type BackendEvent,
  type BatchRecipient,
  FAILURE_TYPES,
  MAX_REPORTED_FAILURES,
  type NewsletterInput,
  type NewsletterStatus,
  providerOrder,
  type ProviderUnavailableDetails,
  type RecipientResult,
} from '../domain/types.ts';

const { sendBatch } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  // The activity heartbeats every 5 s: a batch whose worker died is retried after 20 s.
  heartbeatTimeout: '20 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    // The activity itself decides when a retryable failure has lasted long enough to fail over
    // (classify.ts); this cap is only a backstop.
    maximumAttempts: 15,
    nonRetryableErrorTypes: [FAILURE_TYPES.providerUnavailable],
  },
});

const { notifyBackend } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // A backend outage is retried for this long per event, then the event is dropped (logged).
  scheduleToCloseTimeout: '10 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** getStatusQuery returns the live NewsletterStatus. */
export const getStatusQuery = defineQuery<NewsletterStatus>('getStatus');
/** pauseUpdate stops starting new batches; returns the status. */
export const pauseUpdate = defineUpdate<NewsletterStatus, []>('pause');
/** resumeUpdate continues a paused newsletter (also one that paused itself); returns the status. */
export const resumeUpdate = defineUpdate<NewsletterStatus, []>('resume');
/** cancelUpdate stops starting batches, waits (bounded) for in-flight ones and returns the status. */
export const cancelUpdate = defineUpdate<NewsletterStatus, [reason: string]>('cancel');

/** PendingBatch is a batch to (re)start, with the recipients already settled. */
interface PendingBatch {
  index: number;
  settled: RecipientResult[];
}

/** Progress is the workflow's whole state, carried across continue-as-new. */
export interface Progress {
  status: NewsletterStatus;
  nextBatch: number;
  retryQueue: PendingBatch[];
  paused: boolean;
  cancelled: boolean;
  /** pauses counts automatic pauses, for stable callback event ids. */
  pauses: number;
  pendingCallbacks: BackendEvent[];
}

const CANCEL_DRAIN_WAIT = '30 seconds';

/** newsletterWorkflow delivers one newsletter and returns its final status. */
export async function newsletterWorkflow(input: NewsletterInput, carried?: Progress): Promise<NewsletterStatus> {
  const batchesTotal = Math.ceil(input.recipients.length / input.batchSize);
  const p: Progress = carried ?? {
    status: {
      newsletterId: input.newsletterId,
      state: 'RUNNING',
      totalRecipients: input.recipients.length,
      sent: 0,
      failed: 0,
      skipped: 0,
      batchesTotal,
      batchesCompleted: 0,
      sentByProvider: {},
      failures: [],
      startTime: new Date().toISOString(),
      ...(input.traceId ? { traceId: input.traceId } : {}),
    },
    nextBatch: 0,
    retryQueue: [],
    paused: false,
    cancelled: false,
    pauses: 0,
    pendingCallbacks: [],
  };
  const s = p.status;
  let inFlight = 0;
  let final = false;

  const snapshot = (): NewsletterStatus => ({
    ...s,
    state: final ? s.state : p.paused ? 'PAUSED' : 'RUNNING',
    sentByProvider: { ...s.sentByProvider },
    failures: [...s.failures],
  });
  const event = (eventId: string, batch?: BackendEvent['batch']): BackendEvent => ({
    event_id: `${input.newsletterId}:${eventId}`,
    newsletter_id: input.newsletterId,
    state: snapshot().state,
    total: s.totalRecipients,
    sent: s.sent,
    failed: s.failed,
    skipped: s.skipped,
    ...(batch ? { batch } : {}),
  });
  const requestCancel = (reason: string) => {
    if (final || p.cancelled) return;
    p.cancelled = true;
    s.reason = reason;
    log.info('newsletter cancel requested', { newsletter_id: input.newsletterId, trace_id: input.traceId, reason });
  };

  setHandler(getStatusQuery, snapshot);
  setHandler(pauseUpdate, () => {
    if (!final && !p.cancelled) p.paused = true;
    return snapshot();
  });
  setHandler(resumeUpdate, () => {
    if (p.paused && !final) {
      p.paused = false;
      s.reason = undefined;
    }
    return snapshot();
  });
  setHandler(cancelUpdate, async (reason: string) => {
    requestCancel(reason || 'cancelled by request');
    await condition(() => final, CANCEL_DRAIN_WAIT);
    return snapshot();
  });
  CancellationScope.current().cancelRequested.catch(() => requestCancel('workflow cancellation requested'));

  // Callbacks go out one at a time, in order, so the backend sees start, batches, final.
  let pumpMode: 'run' | 'drain' | 'stop' = 'run';
  const pump = async () => {
    for (;;) {
      await condition(() => pumpMode === 'stop' || p.pendingCallbacks.length > 0 || pumpMode === 'drain');
      if (pumpMode === 'stop' || p.pendingCallbacks.length === 0) return;
      const next = p.pendingCallbacks[0]!;
      try {
        await notifyBackend(next);
      } catch (err) {
        log.warn('backend callback given up', {
          newsletter_id: input.newsletterId,
          trace_id: input.traceId,
          event_id: next.event_id,
          error: String(err),
        });
      }
      p.pendingCallbacks.shift();
    }
  };

  /** record counts a batch's settled recipients; complete is false for a batch cut short by cancel. */
  const record = (index: number, results: RecipientResult[], complete = true) => {
    for (const r of results) {
      if (r.status === 'sent') {
        s.sent += 1;
        s.sentByProvider[r.provider] = (s.sentByProvider[r.provider] ?? 0) + 1;
      } else {
        s.failed += 1;
        if (s.failures.length < MAX_REPORTED_FAILURES) {
          s.failures.push({
            email: r.email,
            recipientId: r.recipientId,
            reason: r.error ?? 'failed',
            provider: r.provider,
          });
        }
      }
    }
    if (complete) s.batchesCompleted += 1;
    p.pendingCallbacks.push(event(`batch:${index}`, {
      index,
      results: results.map((r) => ({
        recipient_id: r.recipientId,
        email: r.email,
        status: r.status,
        provider: r.provider,
        ...(r.messageId ? { message_id: r.messageId } : {}),
        ...(r.error ? { error: r.error } : {}),
      })),
    }));
  };

  const runBatch = async ({ index, settled }: PendingBatch): Promise<void> => {
    const start = index * input.batchSize;
    const all: BatchRecipient[] = input.recipients
      .slice(start, start + input.batchSize)
      .map((r, position) => ({ ...r, position }));
    const done = new Map(settled.map((r) => [r.position, r]));
    const refusals: string[] = [];
    const order = providerOrder(input.primaryProvider);
    for (const [i, provider] of order.entries()) {
      const recipients = all.filter((r) => !done.has(r.position));
      if (recipients.length === 0) break;
      try {
        const result = await sendBatch({
          newsletterId: input.newsletterId,
          batchIndex: index,
          provider,
          ...(order[i + 1] ? { failoverTo: order[i + 1] } : {}),
          content: input.content,
          recipients,
          unsubscribeBaseUrl: input.unsubscribeBaseUrl,
        });
        for (const r of result.results) done.set(r.position, r);
      } catch (err) {
        const details = unavailableDetails(err);
        for (const r of details?.done ?? []) done.set(r.position, r);
        const reason = details?.reason ?? String(err);
        refusals.push(`${provider}: ${reason}`);
        log.warn('failing over', {
          newsletter_id: input.newsletterId,
          trace_id: input.traceId,
          batch: index,
          provider,
          reason,
        });
      }
    }
    if (done.size === all.length) {
      record(index, all.map((r) => done.get(r.position)!));
      return;
    }
    // Every provider refused: keep the batch and pause, so nothing is lost or sent twice.
    p.retryQueue.push({ index, settled: [...done.values()] });
    if (!p.cancelled) {
      p.paused = true;
      s.reason = `paused: every provider refused batch ${index} (${refusals.join('; ')}); ResumeNewsletter retries it`;
      p.pauses += 1;
      p.pendingCallbacks.push(event(`paused:${p.pauses}`));
    }
  };

  const hasWork = () => p.retryQueue.length > 0 || p.nextBatch < batchesTotal;
  const wantsContinueAsNew = () => workflowInfo().continueAsNewSuggested;
  const canStart = () =>
    !p.cancelled && !p.paused && hasWork() && inFlight < input.concurrency && !wantsContinueAsNew();

  if (!carried) p.pendingCallbacks.push(event('started'));
  // Non-cancellable like the batches: Temporal cancellation must not cut the callbacks short.
  const pumpDone = CancellationScope.nonCancellable(pump);

  await CancellationScope.nonCancellable(async () => {
    for (;;) {
      await condition(() => canStart() || (inFlight === 0 && (p.cancelled || !hasWork() || wantsContinueAsNew())));
      if (!canStart()) break;
      const next = p.retryQueue.shift() ?? { index: p.nextBatch++, settled: [] };
      inFlight += 1;
      void runBatch(next).finally(() => {
        inFlight -= 1;
      });
    }

    if (!p.cancelled && hasWork()) {
      // History is getting long: carry progress into a fresh run.
      pumpMode = 'stop';
      await pumpDone;
      await condition(allHandlersFinished);
      await continueAsNew<typeof newsletterWorkflow>(input, p);
    }

    // A cancelled newsletter may hold batches that every provider refused after some of their
    // recipients were accepted: those recipients count as sent (or failed), not skipped.
    for (const pending of p.retryQueue.splice(0)) {
      if (pending.settled.length > 0) record(pending.index, pending.settled, false);
    }
    const attempted = s.sent + s.failed;
    s.skipped = s.totalRecipients - attempted;
    s.state = p.cancelled ? 'CANCELLED' : s.failed > 0 ? 'COMPLETED_WITH_FAILURES' : 'COMPLETED';
    s.endTime = new Date().toISOString();
    final = true;
    log.info('newsletter finished', {
      newsletter_id: input.newsletterId,
      trace_id: input.traceId,
      state: s.state,
      sent: s.sent,
      failed: s.failed,
      skipped: s.skipped,
    });
    p.pendingCallbacks.push(event('final'));
    pumpMode = 'drain';
    await pumpDone;
    await condition(allHandlersFinished);
  });
  return snapshot();
}

/** unavailableDetails extracts what a ProviderUnavailable failure carries, if err is one. */
function unavailableDetails(err: unknown): ProviderUnavailableDetails | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (cause instanceof ApplicationFailure && cause.type === FAILURE_TYPES.providerUnavailable) {
    return cause.details?.[0] as ProviderUnavailableDetails | undefined;
  }
  return undefined;
}
