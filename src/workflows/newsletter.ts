/**
 * The newsletter workflow: deterministic orchestration of one send.
 *
 * - A newsletter is a sequence of batches, one provider request each. The workflow
 *   knows a batch by its index (and, for a backend list, its page cursor), never by its
 *   recipients: the send activity reads them itself. History holds cursors, counters,
 *   the capped failure sample and lifecycle events, so its size does not grow with the
 *   list's bytes and every run stays small.
 * - A sliding window keeps at most `concurrency` batches in flight. Backend lists are
 *   read ahead a few pages at a time (`readPages`: cursors and sizes only).
 * - Each provider's batches run on that provider's task queue, rate-limited by the
 *   Temporal server, with the newsletter id as fairness key; what an idle queue saved up goes
 *   to no-op tasks before the newsletter's next request there (burst.ts).
 * - Failover lives here and only here: a batch goes to the primary provider, and on a
 *   ProviderUnavailable failure what that provider did not settle goes to the next. Any
 *   other failure keeps the batch on the same provider (the send activity never fails
 *   over a request that may have been accepted, and neither does the workflow).
 * - A request a provider throttles (429) gives its place in the window to the next one and
 *   goes again, on the same provider, once the provider's wait is over: the queue keeps
 *   being dispatched at its rate instead of idling and letting the waiting ones back at once.
 * - When every provider refuses, the batch is kept and the newsletter waits and retries by
 *   itself (15 s, then doubling up to OUTAGE_RETRY_MAX_MS), one batch at a time until one
 *   goes through, so an outage is found once and not by every batch; after
 *   OUTAGE_GIVE_UP_AFTER it pauses for a person (ResumeNewsletter retries at once).
 * - Pause, resume and cancel are updates; cancel lets in-flight batches finish.
 * - Lifecycle callbacks go out in order from one pump that delivery never waits for;
 *   per-recipient results go to the backend from the send activities.
 * - Continues as new every CONTINUE_AS_NEW_AFTER_EVENTS events (or sooner when the server
 *   suggests it), carrying cursors and counters only.
 */
import {
  ActivityFailure,
  type ActivityOptions,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  proxySinks,
  setHandler,
  sleep,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { LifecycleSinks, LifecycleTransition } from '../telemetry/lifecycle-sink.ts';
import {
  type BackendEvent,
  type BatchRef,
  DEFAULT_OUTAGE_POLICY,
  type DefinitionRef,
  type DeliveryPlan,
  FAILURE_TYPES,
  type NewsletterInput,
  type NewsletterStatus,
  OUTAGE_FIRST_RETRY_MS,
  planOf,
  PROVIDER_MAX_BATCH,
  type ProviderName,
  providerOrder,
  providerTaskQueue,
  type ProviderUnavailableDetails,
  type RequestTooLargeDetails,
  type SendBatchInput,
  type ThrottledDetails,
} from '../domain/types.ts';
import { type CursorsRead, cursorsReadBefore, rememberCursors } from '../domain/cursors.ts';
import { type AccountingState, NewsletterAccounting } from './accounting.ts';
import { BurstDrains, type BurstState, queueCallsFor } from './burst.ts';
import { resultsSettledSignal } from './signals.ts';

/** getStatusQuery returns the live NewsletterStatus. */
export const getStatusQuery = defineQuery<NewsletterStatus>('getStatus');
/** pauseUpdate stops starting new batches; returns the status. */
export const pauseUpdate = defineUpdate<NewsletterStatus, []>('pause');
/** resumeUpdate continues a paused newsletter (also one that paused itself); returns the status. */
export const resumeUpdate = defineUpdate<NewsletterStatus, []>('resume');
/** rescheduleUpdate moves a SCHEDULED newsletter's send time (ISO 8601); refused once sending has begun. */
export const rescheduleUpdate = defineUpdate<NewsletterStatus, [sendAt: string]>('reschedule');
/** cancelUpdate stops starting batches, waits (bounded) for in-flight ones and returns the status. */
export const cancelUpdate = defineUpdate<NewsletterStatus, [reason: string]>('cancel');

/** CONTINUE_AS_NEW_AFTER_EVENTS keeps every run far below Temporal's 10,240-event warning (and its 4,096 suggestion). */
export const CONTINUE_AS_NEW_AFTER_EVENTS = 3_000;
/** PAGES_PER_READ is how many backend pages one readPages call reads ahead. */
const PAGES_PER_READ = 10;
/** CANCEL_DRAIN_WAIT_MS is how long cancel waits for in-flight batches (the bridge's cancel call allows for it). */
export const CANCEL_DRAIN_WAIT_MS = 30_000;

/**
 * Part names the recipients of a batch a request is for: all of them (neither), positions
 * (inline lists, which never change) or member keys (backend pages, where a recipient who
 * left between two reads shifts the positions after it; SendBatchInput.members).
 */
interface Part {
  positions?: number[];
  members?: number[];
}

/** Unit is a batch, or the part of it still to send, and the provider to start with. */
interface Unit extends Part {
  batch: BatchRef;
  /** from is the index in the provider order to start at. */
  from: number;
  /** throttles counts the 429s this part met at provider `from` so far. */
  throttles?: number;
  /** notBefore is when a throttled part may be sent again (epoch ms). */
  notBefore?: number;
}

/** Carried is the whole state one run hands the next: cursors, counters, small queues. */
export interface Carried {
  plan: DeliveryPlan;
  books: AccountingState;
  /** nextBatch is the index the next batch gets. */
  nextBatch: number;
  /** pages are backend pages read but not started yet. */
  pages: BatchRef[];
  /** cursor is where reading the backend list goes on; undefined once it is exhausted. */
  cursor?: string;
  /** cursorsRead remembers cursors read so far, so no read leads back to them (absent in older runs). */
  cursorsRead?: CursorsRead;
  /** retry holds batch parts every provider refused (waiting for the next try or for resume). */
  retry: Unit[];
  /** throttled holds batch parts a provider throttled, each waiting for its notBefore (absent in older runs). */
  throttled?: Unit[];
  /** outage is set while every provider refuses: the newsletter waits until nextTryAt. */
  outage?: Outage;
  /** outbox holds lifecycle callbacks not yet accepted by the backend. */
  outbox: BackendEvent[];
  /** countedAtTransitions: the metrics count sending begun and ended where it happens, not in the callbacks (absent in older chains). */
  countedAtTransitions?: boolean;
  /** countedBySink: they are counted through the lifecycle sink, not a local activity (absent in older chains). */
  countedBySink?: boolean;
  /** bursts: the provider queues' rates and when the newsletter last sent on each (burst.ts; absent in older runs). */
  bursts?: BurstState;
}

/** Outage is the wait after every provider refused a batch. */
interface Outage {
  /** since is when the first refusal of this outage came (epoch ms). */
  since: number;
  /** tries counts the waits so far (the backoff doubles with each). */
  tries: number;
  /** nextTryAt is when one batch tries again (epoch ms). */
  nextTryAt: number;
}

const timeouts: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  // The send activity heartbeats every 5 s: a batch whose worker died is retried after 20 s.
  heartbeatTimeout: '20 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    // No attempt limit: the activity itself decides when a definite refusal has lasted long
    // enough to fail over (providers/failures.ts), and a request in doubt is asked again on
    // the same provider until it answers — giving up on it could send it twice.
    nonRetryableErrorTypes: [FAILURE_TYPES.providerUnavailable],
  },
};

const { readPages } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  // A backend outage while reading the list delays the send; it does not fail it.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const { notifyBackend } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '25 hours',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});

/** runningResults asks visibility how many of the newsletter's results workflows still run. */
const { runningResults } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // Bounded: the newsletter does not wait for a report while it asks (the next check asks again).
  scheduleToCloseTimeout: '10 minutes',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * RESULTS_CHECK_FIRST_MS and RESULTS_CHECK_EVERY_MS: while results are owed after the final state, a
 * newsletter asks whether any of its results workflows still runs, first after 30 s (visibility
 * has long caught up with one started before the end), then every hour.
 */
const RESULTS_CHECK_FIRST_MS = 30_000;
const RESULTS_CHECK_EVERY_MS = 3_600_000;

/** countLifecycle counts the newsletter's sending begun and ended in the worker's metrics, in chains begun before the sink. */
const { countLifecycle } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '5 seconds',
  retry: { maximumAttempts: 3 },
});
/** lifecycle counts them in chains begun since (nothing in history). */
const { lifecycle } = proxySinks<LifecycleSinks>();

/** newsletterWorkflow delivers one newsletter and returns its final status. */
export async function newsletterWorkflow(input: NewsletterInput, carried?: Carried): Promise<NewsletterStatus> {
  const info = workflowInfo();
  const c: Carried = carried ?? start(input, new Date().toISOString());
  const { plan } = c;
  // The first run's start input holds the content and inline recipients; firstExecutionRunId
  // names that run in every run of the chain.
  const ref: DefinitionRef = { workflowId: info.workflowId, runId: info.firstExecutionRunId };
  // Runs of this release record who paused and a resume keeps a cancel (accounting.ts), and an
  // outage outlives the newsletter pausing itself: a resume tries one batch, with a new give-up clock.
  const controlled = patched('pause-resume-kept-straight');
  const books = new NewsletterAccounting(c.books, { whoPaused: controlled });
  const order = providerOrder(plan.primaryProvider);
  const logContext = { newsletter_id: plan.newsletterId, trace_id: plan.traceId };
  const senders = new Map(order.map((provider) => [provider, senderFor(provider, info.taskQueue, plan.newsletterId)]));
  // What a provider queue saved up while it idled is spent on no-op tasks before the newsletter's
  // next request there (burst.ts); runs begun before this release sent at once.
  const bursts = patched('idle-queue-drained')
    ? new BurstDrains(
      c.bursts ??= { rates: {}, idleSince: {} },
      queueCallsFor(info.taskQueue, plan.newsletterId),
      (message, fields) => log.warn(message, { ...logContext, ...fields }),
    )
    : undefined;
  const send = (provider: ProviderName, input: SendBatchInput) => {
    const sender = senders.get(provider)!;
    return bursts ? bursts.request(provider, () => sender(input)) : sender(input);
  };
  let inFlight = 0;
  let reading = false;
  const throttled = (c.throttled ??= []);
  // Throttled parts wait in this run's state (and are carried on): while a window's worth of them
  // waits, no new request starts, so a provider far stricter than the queue's rate cannot pile the
  // whole newsletter up here (at most about two windows' worth wait: those in flight when the
  // window filled may be throttled too). Runs begun before this release started new requests regardless.
  const throttledBounded = patched('throttled-bounded');
  const mayStartNew = () => !throttledBounded || throttled.length < plan.concurrency;
  // running counts each batch's parts in flight: parts of a batch sent apart (throttled, or
  // refused by every provider) complete it once, with the last.
  const running = new Map<number, number>();

  const snapshot = (): NewsletterStatus => books.snapshot(c.outbox.map((e) => e.event_id));
  // Sending begun and ended are counted where they happen (workflows of earlier releases count them
  // in the callbacks, which wait for the backend); a count never holds the newsletter up.
  // The chain's first run decides, for every run after it: a chain begun before this release
  // counted its beginning in a callback, and counts its end there too.
  // A chain begun on this release counts through a sink, nothing in history: a local activity's
  // marker read across a history page boundary fails replay for good (lifecycle-sink.ts).
  if (!carried) {
    c.countedAtTransitions = patched('lifecycle-counted-where-it-happens');
    c.countedBySink = patched('lifecycle-counted-by-sink');
  }
  const countsHere = c.countedAtTransitions === true;
  const count = async (transition: LifecycleTransition) => {
    if (!countsHere) return;
    // A chain begun before the sink moves to it at its next count once this release runs it (its end
    // would otherwise still be a local activity): where its history counted by local activity, the
    // patch is not recorded there and replay keeps that path.
    if (c.countedBySink || patched('lifecycle-moved-to-sink')) return lifecycle.count(transition);
    await countLifecycle(transition).catch((err) => {
      log.warn('lifecycle not counted in the metrics', { ...logContext, error: String(err) });
    });
  };
  /** readScope holds the page read under way: a cancel stops it (it may be retrying while the backend is down). */
  let readScope: CancellationScope | undefined;
  const requestCancel = (reason: string) => {
    if (!books.cancel(reason)) return;
    log.info('newsletter cancel requested', { ...logContext, reason });
    readScope?.cancel();
  };
  setHandler(getStatusQuery, snapshot);
  setHandler(pauseUpdate, () => {
    books.pause();
    return snapshot();
  });
  setHandler(resumeUpdate, () => {
    if (controlled && books.state.cancelled) return snapshot();
    const wasPaused = books.state.paused;
    books.resume();
    // Waiting out an outage: a person asking to resume means "try now", one batch at a time until
    // one goes through; lifting a pause, it also gives the providers OUTAGE_GIVE_UP_AFTER again
    // (a resume of one still running does not: it would never pause itself).
    if (c.outage) {
      c.outage.nextTryAt = Date.now();
      if (controlled && wasPaused) c.outage = { since: Date.now(), tries: 0, nextTryAt: Date.now() };
    }
    return snapshot();
  });
  setHandler(cancelUpdate, async (reason: string) => {
    requestCancel(reason || 'cancelled by request');
    await condition(() => books.isFinal, CANCEL_DRAIN_WAIT_MS);
    return snapshot();
  });
  setHandler(rescheduleUpdate, (sendAt: string) => {
    books.reschedule(sendAt);
    return snapshot();
  }, {
    // Refused before it enters history: the caller learns why, the workflow is untouched.
    validator: (sendAt: string) => {
      if (!books.isScheduled) {
        throw new Error('sending has begun (or the newsletter is over): it cannot be rescheduled');
      }
      if (Number.isNaN(Date.parse(sendAt))) throw new Error(`send_at: not a time: ${sendAt}`);
    },
  });
  setHandler(resultsSettledSignal, () => books.resultsSettled());
  CancellationScope.current().cancelRequested.catch(() => requestCancel('workflow cancellation requested'));
  // The state rides in the memo too, kept up to date at each change (a few events per newsletter):
  // a list of the open newsletters reads it with no query and no worker (the bridge's
  // newsletter_newsletters_open gauge, the NewsletterStuck alert). Runs begun before this release kept none.
  if (patched('state-in-memo')) {
    // A newsletter that paused itself (every provider refused for too long) waits for a person:
    // the memo says so (paused_by), and the stuck alert counts it as it counts a RUNNING one.
    const memo = () => ({ state: books.currentState(), paused_by: books.pausedBy ?? null });
    const key = (m: Record<string, unknown> | undefined) => `${m?.['state']}/${m?.['paused_by'] ?? null}`;
    void CancellationScope.nonCancellable(async () => {
      let memoed = key(workflowInfo().memo);
      for (;;) {
        await condition(() => key(memo()) !== memoed);
        const now = memo();
        memoed = key(now);
        upsertMemo(now);
      }
    });
  }
  // After the handlers: a status query may come while the count is made.
  if (!carried && !books.isScheduled) await CancellationScope.nonCancellable(() => count({ began: true }));

  // Lifecycle callbacks go out one at a time, in order, so the backend sees start, pauses, final.
  // The pump runs in a scope of its own: Temporal cancellation of the workflow does not cut it
  // short, and continue-as-new cancels it without waiting (the unsent events are carried).
  const pump = async () => {
    try {
      for (;;) {
        await condition(() => c.outbox.length > 0);
        const next = c.outbox[0]!;
        try {
          await (countsHere ? notifyBackend(next, { counted: true }) : notifyBackend(next));
        } catch (err) {
          if (isCancellation(err)) throw err;
          log.error('lifecycle callback given up after 25 hours', {
            ...logContext,
            event_id: next.event_id,
            error: String(err),
          });
        }
        c.outbox.shift();
      }
    } catch (err) {
      // Stopped for continue-as-new or at the end: what is left in the outbox is carried.
      if (!isCancellation(err)) throw err;
    }
  };
  let pumpScope!: CancellationScope;
  const pumpDone = CancellationScope.nonCancellable(() => {
    pumpScope = new CancellationScope();
    return pumpScope.run(pump);
  });

  const isDue = (u: Unit) => u.notBefore! <= Date.now();
  /**
   * wakeUpFor wakes the workflow when each of these throttled parts may go again: nothing else may
   * happen then (the parts of one request throttled apart, the last work of a newsletter). Runs
   * begun before this release woke for the first of them only, which could leave the others waiting.
   */
  const wakeUpFor = (units: Unit[]) => {
    if (!patched('throttled-wake-each')) return wakeUpForFirstOf(units);
    for (const at of new Set(units.map((u) => u.notBefore!))) wakeUpIn(Math.max(0, at - Date.now()));
  };
  /** nextUnit takes the next batch to start: a refused one being retried, a throttled one whose wait is over, or a new one. */
  const nextUnit = (): Unit | undefined => {
    const retry = c.retry.shift();
    if (retry) return retry;
    const due = throttled.findIndex(isDue);
    if (due >= 0) return throttled.splice(due, 1)[0];
    if (!mayStartNew()) return undefined;
    if (plan.source.kind === 'inline') {
      if (c.nextBatch >= books.state.batchesTotal) return undefined;
      const index = c.nextBatch++;
      return { batch: { index, count: Math.min(plan.batchSize, plan.source.count - index * plan.batchSize) }, from: 0 };
    }
    const page = c.pages.shift();
    return page ? { batch: page, from: 0 } : undefined;
  };
  const hasReadyUnit = () =>
    c.retry.length > 0 || throttled.some(isDue) ||
    (mayStartNew() &&
      (plan.source.kind === 'inline' ? c.nextBatch < books.state.batchesTotal : c.pages.length > 0));
  const listExhausted = () => plan.source.kind === 'inline' || c.cursor === undefined;
  // Parts of a backend page go by member key; runs begun before that went by position.
  const byMember = () => plan.source.kind === 'backend' && patched('backend-parts-by-member');
  const hasWork = () => hasReadyUnit() || throttled.length > 0 || !listExhausted();
  const historyFull = () => {
    const now = workflowInfo();
    return now.historyLength >= CONTINUE_AS_NEW_AFTER_EVENTS || now.continueAsNewSuggested;
  };
  const stopping = () => books.state.cancelled || historyFull();

  const carryOn = async () => {
    // History is getting long: carry cursors and counters into a fresh run. Callbacks not yet
    // delivered are carried too (nothing waits for them).
    pumpScope.cancel();
    await pumpDone;
    await condition(allHandlersFinished);
    await continueAsNew<typeof newsletterWorkflow>(stub(input), c);
  };

  /**
   * waitForSendTime holds a scheduled newsletter (a durable timer: restarts do not lose it)
   * until its send time, which RescheduleNewsletter may move; a cancel ends the wait. Then
   * sending begins, and the backend hears `started`.
   */
  const waitForSendTime = async () => {
    if (!books.isScheduled) return;
    // A wait of months gathers history too (reschedules, pauses): it continues as new, as sending does.
    const carries = patched('scheduled-wait-continues-as-new');
    while (books.isScheduled) {
      const at = books.state.scheduledFor!;
      const dueInMs = Date.parse(at) - Date.now();
      if (dueInMs <= 0) {
        books.due();
        c.outbox.push(books.event('started'));
        await count({ began: true });
        log.info('scheduled newsletter due: sending begins', { ...logContext, send_at: at });
        return;
      }
      await condition(
        () => books.state.scheduledFor !== at || books.state.cancelled || (carries && historyFull()),
        dueInMs,
      );
      if (carries && historyFull() && books.isScheduled) await carryOn();
    }
  };

  /** listRefused: the backend refused the list (the only failure the books record); no read of it goes on. */
  const listRefused = () => books.state.failure !== undefined;
  /** refuseList ends reading a list the backend refused: the newsletter will end FAILED, saying why. */
  const refuseList = (reason: string) => {
    if (!listRefused()) log.error('recipient list refused: the newsletter ends FAILED', { ...logContext, reason });
    books.fail(reason);
    c.cursor = undefined;
  };

  /** readAhead keeps a few pages of a backend list known ahead of the window. */
  const readAhead = async (listId: string) => {
    for (;;) {
      await condition(() => stopping() || c.cursor === undefined || c.pages.length < plan.concurrency * 2);
      if (stopping() || c.cursor === undefined) return;
      reading = true;
      try {
        const readBefore = cursorsReadBefore(c.cursorsRead);
        const read = () =>
          readPages({
            ref,
            newsletterId: plan.newsletterId,
            listId,
            cursor: c.cursor!,
            limit: plan.batchSize,
            maxPages: PAGES_PER_READ,
            ...(readBefore.length > 0 ? { readBefore } : {}),
          });
        // A cancel stops the read (runs begun before this release wait for it, however long it retries).
        const result = patched('page-read-stops-at-cancel')
          ? await (readScope = new CancellationScope()).run(read)
          : await read();
        // A send found the list gone while this read was under way: what it read is not sent.
        if (listRefused()) return;
        // A next_cursor leading back to any of these is refused by later reads (domain/cursors.ts).
        c.cursorsRead = rememberCursors(c.cursorsRead, [...new Set([c.cursor, ...result.pages.map((p) => p.cursor)])]);
        for (const page of result.pages) c.pages.push({ index: c.nextBatch++, cursor: page.cursor, count: page.count });
        const recipients = result.pages.reduce((sum, p) => sum + p.count, 0);
        c.cursor = result.nextCursor;
        books.addBatches(result.pages.length, recipients, c.cursor === undefined);
      } catch (err) {
        // Cancelled: nothing of the read is sent, and reading ends.
        if (isCancellation(err) && books.state.cancelled) return;
        if (failureType(err) !== FAILURE_TYPES.backendListRefused) throw err;
        // The backend says the list is unknown, or refuses the token: what was read is sent, and
        // the newsletter ends FAILED saying why (retrying would wait for ever).
        refuseList(applicationFailureOf(err)!.message);
        return;
      } finally {
        reading = false;
        readScope = undefined;
      }
    }
  };

  /**
   * runUnit sends a unit through the providers in order; returns what nobody settled, with
   * where to start again, and adds to `deferred` the parts a provider throttled.
   */
  const runUnit = async (unit: Unit, refusals: string[], deferred: Unit[]): Promise<Unit[]> => {
    let { positions, members } = unit;
    const part = (): Part => members ? { members } : positions ? { positions } : {};
    for (let i = unit.from; i < order.length; i++) {
      const provider = order[i]!;
      const wanted = members ?? positions ?? range(unit.batch.count);
      const partOf = (ids: number[]): Part => members ? { members: ids } : { positions: ids };
      if (wanted.length > PROVIDER_MAX_BATCH[provider]) {
        // Failing over to a provider with a smaller request limit: one request per part.
        const parts = chunk(wanted, PROVIDER_MAX_BATCH[provider]);
        const rests = await Promise.all(
          parts.map((p) => runUnit({ batch: unit.batch, ...partOf(p), from: i }, refusals, deferred)),
        );
        return rests.flat();
      }
      const throttles = i === unit.from ? unit.throttles ?? 0 : 0;
      try {
        books.record(
          await send(provider, {
            ref,
            newsletterId: plan.newsletterId,
            batch: unit.batch,
            ...part(),
            provider,
            ...(order[i + 1] ? { failoverTo: order[i + 1] } : {}),
            failureSlots: books.failureSlots,
            ...(throttles > 0 ? { throttles } : {}),
          }),
        );
        return [];
      } catch (err) {
        if (failureType(err) === FAILURE_TYPES.requestTooLarge && wanted.length > 1) {
          // The rendered emails are over the provider's request size: the same provider, in halves
          // (of a backend page's recipients by who they are, as the activity named them).
          const named = tooLargeDetails(err)?.members;
          const [whole, halfOf] = named && byMember()
            ? [named, (ids: number[]) => ({ members: ids })]
            : [wanted, partOf];
          const half = Math.ceil(whole.length / 2);
          const rests = await Promise.all(
            [whole.slice(0, half), whole.slice(half)].map((p) =>
              runUnit({ batch: unit.batch, ...halfOf(p), from: i }, refusals, deferred)
            ),
          );
          return rests.flat();
        }
        if (failureType(err) === FAILURE_TYPES.backendListRefused) {
          // The backend says this page's list is gone (404, sources.ts): as when a read is refused,
          // the newsletter ends FAILED naming the list, and this page's recipients are skipped.
          // Only activities of this release throw it from a send.
          refuseList(applicationFailureOf(err)!.message);
          return [];
        }
        const wait = throttledDetails(err);
        if (wait) {
          // Nothing was sent: the request goes again, on this provider, once the wait is over;
          // its place in the window goes to the next request meanwhile (providers/failures.ts).
          // Only activities of this release throw Throttled: no history of an older one meets this.
          deferred.push({
            batch: unit.batch,
            ...part(),
            from: i,
            throttles: throttles + 1,
            notBefore: Date.now() + wait.retryAfterMs,
          });
          return [];
        }
        const details = unavailableDetails(err);
        if (details) {
          books.record(details.settled);
          if (details.remainingMembers && byMember()) {
            members = details.remainingMembers;
            positions = undefined;
          } else {
            positions = details.remaining;
            members = undefined;
          }
          // Recipients who joined the page after the request left: no provider refused them, so
          // the same one sends them, in a request of their own (its own key). Runs begun before
          // this release failed them over, and waited as in an outage when no provider took them.
          if (details.pageChanged && members && patched('newcomers-stay-on-provider')) {
            return await runUnit({ batch: unit.batch, members, from: i }, refusals, deferred);
          }
        } else if (patched('unexplained-failure-stays-on-provider')) {
          // Not a refusal (the activity failed some other way): what it sent is unknown, so
          // another provider could send it twice. It waits and tries this provider again.
          refusals.push(`${provider}: ${String(err)}`);
          log.warn('batch failed without a refusal: retrying on the same provider', {
            ...logContext,
            batch: unit.batch.index,
            provider,
            error: String(err),
          });
          return [{ batch: unit.batch, ...part(), from: i }];
        }
        const reason = details?.reason ?? String(err);
        refusals.push(`${provider}: ${reason}`);
        log.warn('failing over', { ...logContext, batch: unit.batch.index, provider, reason });
        if ((members ?? positions)?.length === 0) return [];
      }
    }
    return [{
      batch: unit.batch,
      ...(members ? { members } : { positions: positions ?? range(unit.batch.count) }),
      from: 0,
    }];
  };

  /** pauseForAPerson pauses the newsletter itself, telling the backend. */
  const pauseForAPerson = (reason: string) => {
    const n = books.pauseItself(reason);
    c.outbox.push(books.event(`paused:${n}`));
  };

  /** waitOutOutage schedules the next try after every provider refused, or pauses once the outage lasted too long. */
  const waitOutOutage = (batch: number, refusals: string[]) => {
    const now = Date.now();
    // Batches in flight when the outage began come back refused too: they wait with the rest.
    if (c.outage && now < c.outage.nextTryAt) return;
    const policy = plan.outage ?? DEFAULT_OUTAGE_POLICY;
    const refused = `every provider refused batch ${batch} (${refusals.join('; ')})`;
    const since = c.outage?.since ?? now;
    if (now - since >= policy.giveUpAfterMs) {
      // Kept (by runs of this release): after a resume, one batch tries until one goes through.
      if (!controlled) c.outage = undefined;
      // Already paused by a person (a batch in flight came back refused): it stays theirs.
      if (!(controlled && books.state.paused)) {
        pauseForAPerson(`paused: ${refused} for ${hours(now - since)}; ResumeNewsletter retries it`);
      }
      return;
    }
    const tries = (c.outage?.tries ?? 0) + 1;
    const delayMs = Math.min(OUTAGE_FIRST_RETRY_MS * 2 ** (tries - 1), policy.retryMaxMs);
    c.outage = { since, tries, nextTryAt: now + delayMs };
    books.wait(`waiting: ${refused}, next try ${clock(now + delayMs)}`);
    log.warn('every provider refused: waiting before the next try', { ...logContext, batch, tries, delay_ms: delayMs });
    wakeUpIn(delayMs);
  };

  const runBatch = async (unit: Unit) => {
    const refusals: string[] = [];
    const deferred: Unit[] = [];
    const index = unit.batch.index;
    running.set(index, (running.get(index) ?? 0) + 1);
    let left: Unit[];
    try {
      left = await runUnit(unit, refusals, deferred);
    } finally {
      const others = running.get(index)! - 1;
      if (others > 0) running.set(index, others);
      else running.delete(index);
    }
    if (deferred.length > 0) {
      throttled.push(...deferred);
      wakeUpFor(deferred);
    }
    if (left.length === 0) {
      if (deferred.length > 0) return;
      const partsElsewhere = running.has(index) || c.retry.some((u) => u.batch.index === index) ||
        throttled.some((u) => u.batch.index === index);
      if (!partsElsewhere) books.completeBatch();
      if (c.outage) {
        // A batch went through: the outage is over, the window opens again.
        c.outage = undefined;
        books.wait(undefined);
      }
      return;
    }
    // Nobody settled what is left: keep it, so nothing is lost or sent twice.
    c.retry.push(...left);
    if (books.state.cancelled) return;
    if (!patched('outage-waits-and-retries')) {
      // Newsletters started before this release pause at once, as they did then.
      pauseForAPerson(
        `paused: every provider refused batch ${unit.batch.index} (${
          refusals.join('; ')
        }); ResumeNewsletter retries it`,
      );
      return;
    }
    waitOutOutage(unit.batch.index, refusals);
  };

  // While an outage lasts, nothing starts before the next try, and then one batch at a time.
  const waitingOutOutage = () => c.outage !== undefined && Date.now() < c.outage.nextTryAt;
  const windowSize = () => c.outage ? 1 : plan.concurrency;
  const canStart = () =>
    !stopping() && !books.state.paused && !waitingOutOutage() && inFlight < windowSize() && hasReadyUnit();
  await CancellationScope.nonCancellable(waitForSendTime);
  // Reading ahead stops by itself at cancel and before continue-as-new. A Temporal cancellation
  // of the workflow is a cancel like any other (requestCancel): it must not cut the reader short,
  // whose failure would end the run without its final state and callback.
  const reader = (listId: string) =>
    patched('reader-outlives-cancellation')
      ? CancellationScope.nonCancellable(() => readAhead(listId))
      : readAhead(listId);
  const readerDone = plan.source.kind === 'backend' ? reader(plan.source.listId) : Promise.resolve();
  // An outage wait carried from the previous run: wake up when it ends; the same for throttled parts.
  if (c.outage && c.outage.nextTryAt > Date.now()) wakeUpIn(c.outage.nextTryAt - Date.now());
  if (throttled.length > 0) wakeUpFor(throttled);

  const delivered = () => c.outbox.length === 0 && books.resultsOwed === 0;
  /**
   * awaitCallbacks waits for delivered() (or a full history). A results workflow terminated (no
   * code of it runs) never reports back and would keep the newsletter open for ever: while results
   * are owed it asks whether any of its results workflows still runs; when none does, those it
   * waits for will never report: written off, and logged.
   */
  const awaitCallbacks = async () => {
    const done = () => delivered() || historyFull();
    let wait = RESULTS_CHECK_FIRST_MS;
    while (!done()) {
      if (books.resultsOwed === 0) return await condition(done);
      if (await condition(done, wait)) return;
      wait = RESULTS_CHECK_EVERY_MS;
      // The last report may come while it asks: then it is done, without the answer.
      const meanwhile = new CancellationScope();
      const running = await Promise.race([
        runningResults(plan.newsletterId).catch((err: unknown) => {
          log.warn('could not count the running results workflows; asking again later', {
            ...logContext,
            error: String(err),
          });
          return undefined;
        }),
        meanwhile.run(() => condition(done)).then(() => 'done' as const),
      ]);
      meanwhile.cancel();
      if (running === 'done') return;
      // Reports that came while it asked are counted first (resultsOwed is read again).
      if (running === 0 && books.resultsOwed > 0) {
        log.error(
          'results never reported back: no results workflow of the newsletter runs (terminated?); written off',
          { ...logContext, result_events: books.writeOffResults() },
        );
      }
    }
  };

  await CancellationScope.nonCancellable(async () => {
    if (!books.isFinal) {
      for (;;) {
        await condition(() =>
          canStart() || (inFlight === 0 && !reading && (stopping() || (!hasWork() && listExhausted())))
        );
        if (!canStart()) break;
        const unit = nextUnit()!;
        inFlight += 1;
        void runBatch(unit).finally(() => {
          inFlight -= 1;
        });
      }
      await readerDone;
      if (!books.state.cancelled && hasWork()) await carryOn();

      // A scheduled newsletter cancelled before its time never began: its end is not counted either.
      const began = books.state.scheduledFor === undefined;
      const state = books.finish(new Date().toISOString());
      log.info('newsletter finished', { ...logContext, state, ...countsOf(books.state) });
      c.outbox.push(books.event('final'));
      if (began) await count({ finished: state });
    }
    // The newsletter stays open, its final state visible, until the backend has every callback;
    // the wait continues as new too if the signals of late results fill the history.
    if (patched('results-written-off')) await awaitCallbacks();
    else await condition(() => delivered() || historyFull());
    if (!delivered()) await carryOn();
    pumpScope.cancel();
    await pumpDone;
    await condition(allHandlersFinished);
  });
  return snapshot();
}

/** start opens a newsletter's first run: plan, books, and the `started` callback. */
function start(input: NewsletterInput, now: string): Carried {
  const plan = planOf(input);
  const books = NewsletterAccounting.start({
    newsletterId: plan.newsletterId,
    traceId: plan.traceId,
    startTime: now,
    ...(input.sendAt ? { sendAt: input.sendAt } : {}),
  });
  if (plan.source.kind === 'inline') {
    books.addBatches(Math.ceil(plan.source.count / plan.batchSize), plan.source.count, true);
  }
  return {
    plan,
    books: books.state,
    nextBatch: 0,
    pages: [],
    ...(plan.source.kind === 'backend' ? { cursor: '' } : {}),
    retry: [],
    // A scheduled newsletter tells the backend `started` when its time comes.
    outbox: books.isScheduled ? [] : [books.event('started')],
  };
}

/** stub is the input later runs get: the content and recipients stay in the first run's input. */
function stub(input: NewsletterInput): NewsletterInput {
  return { ...input, content: { subject: '', from: '', tags: {} }, recipients: [] };
}

/** senderFor proxies sendBatch on the provider's own task queue, with the newsletter as fairness key. */
function senderFor(provider: ProviderName, taskQueue: string, newsletterId: string) {
  return proxyActivities<Activities>({
    ...timeouts,
    taskQueue: providerTaskQueue(taskQueue, provider),
    priority: { fairnessKey: newsletterId },
  }).sendBatch;
}

function countsOf(s: AccountingState) {
  return { sent: s.sent, failed: s.failed, skipped: s.skipped };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

const chunk = <T>(items: T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/** applicationFailureOf is the ApplicationFailure an activity failed with, if any. */
function applicationFailureOf(err: unknown): ApplicationFailure | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  return cause instanceof ApplicationFailure ? cause : undefined;
}

/** failureType is the ApplicationFailure type an activity failed with, if any. */
function failureType(err: unknown): string | undefined {
  return applicationFailureOf(err)?.type ?? undefined;
}

/** throttledDetails extracts what a Throttled failure carries, if err is one. */
function throttledDetails(err: unknown): ThrottledDetails | undefined {
  if (failureType(err) !== FAILURE_TYPES.throttled) return undefined;
  return (applicationFailureOf(err)!.details?.[0] as ThrottledDetails | undefined) ?? { retryAfterMs: 1_000 };
}

/** tooLargeDetails extracts what a RequestTooLarge failure carries, if err is one. */
function tooLargeDetails(err: unknown): RequestTooLargeDetails | undefined {
  if (failureType(err) !== FAILURE_TYPES.requestTooLarge) return undefined;
  return applicationFailureOf(err)!.details?.[0] as RequestTooLargeDetails | undefined;
}

/** unavailableDetails extracts what a ProviderUnavailable failure carries, if err is one. */
function unavailableDetails(err: unknown): ProviderUnavailableDetails | undefined {
  if (failureType(err) !== FAILURE_TYPES.providerUnavailable) return undefined;
  return applicationFailureOf(err)!.details?.[0] as ProviderUnavailableDetails | undefined;
}

/** wakeUpForFirstOf wakes the workflow when the first of these throttled parts may go again. */
function wakeUpForFirstOf(units: Unit[]): void {
  wakeUpIn(Math.max(0, Math.min(...units.map((u) => u.notBefore!)) - Date.now()));
}

/** wakeUpIn makes the workflow look at its conditions again after ms (a timer; its end is all that matters). */
function wakeUpIn(ms: number): void {
  void CancellationScope.nonCancellable(() => sleep(ms)).catch(() => undefined);
}

/** clock renders an instant as the status shows it, e.g. 12:04:10 UTC. */
function clock(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(11, 19)} UTC`;
}

/** hours renders a duration in whole hours, or minutes below one hour. */
function hours(ms: number): string {
  return ms >= 3_600_000 ? `${Math.round(ms / 3_600_000)} h` : `${Math.max(1, Math.round(ms / 60_000))} min`;
}
