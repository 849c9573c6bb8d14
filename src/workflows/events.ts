/**
 * The events workflow: one per newsletter (`newsletter-events:<id>`), started by the first
 * provider webhook about it (signal-with-start from the bridge, which acknowledges the
 * webhook only once the signal is in Temporal). It counts each provider event once — a
 * redelivery repeats the provider's event id, checked against the last DEDUPE_WINDOW ids — and
 * forwards the events to the backend in batches of up to EVENTS_PER_CALLBACK. Each batch is
 * handed to a child workflow of its own (newsletterEventsCallbackWorkflow) that retries it
 * for 25 hours, so waiting on the backend never holds this workflow: while the backend is
 * down, events keep coming, full batches keep leaving, and the history continues as new as
 * usual (in-flight batches carry on; their parent's close does not stop them). While the
 * backend answers, one batch is in flight at a time and a partial batch waits for it, so
 * events are batched as before. It continues as new when its history grows, and ends after
 * IDLE_CLOSE without an event (a later event starts it again, its counts from zero).
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { NewsletterEventsEvent } from '../../contracts/http/backend.ts';
import type { Activities } from '../activities/index.ts';
import { type DeliveryEvent, type Engagement, eventsCallbackWorkflowIdFor, NO_ENGAGEMENT } from '../domain/events.ts';

/** deliveryEventsSignal hands the workflow provider events (the bridge's webhook endpoint sends it). */
export const deliveryEventsSignal = defineSignal<[DeliveryEvent[]]>('deliveryEvents');
/** engagementQuery answers the counts so far. */
export const engagementQuery = defineQuery<Engagement>('engagement');

/**
 * DEDUPE_WINDOW is how many recent event ids a redelivery is checked against: what the workflow can carry through
 * continue-as-new. A redelivery later than that (minutes at a big send's peak) counts again; the backend has the id.
 */
export const DEDUPE_WINDOW = 20_000;
/** EVENTS_PER_CALLBACK bounds one events callback to the backend. */
export const EVENTS_PER_CALLBACK = 500;
/**
 * EVENTS_HANDOVER_BATCHES bounds the batches handed over in one workflow task before continue-as-new
 * (about 1.5 MB of child inputs): Temporal refuses a task's commands over 4 MiB.
 */
export const EVENTS_HANDOVER_BATCHES = 32;
const IDLE_CLOSE = '45 days';
const CONTINUE_AS_NEW_AFTER_EVENTS = 3_000;

/** EventsState is what one run hands the next. */
export interface EventsState {
  newsletterId: string;
  counts: Engagement;
  /** seen holds the last DEDUPE_WINDOW event ids, oldest first. */
  seen: string[];
  /** outbox holds events the backend has not taken yet, oldest first. */
  outbox: DeliveryEvent[];
  /** batches counts the callbacks sent, for stable callback ids. */
  batches: number;
}

const { postEvents } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '25 hours',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});

/** COUNTED maps an event to the engagement count it adds to. */
const COUNTED: Partial<Record<DeliveryEvent['kind'], keyof Engagement>> = {
  delivered: 'delivered',
  bounced: 'bounced',
  complained: 'complained',
  opened: 'opened',
  clicked: 'clicked',
};

/** newsletterEventsWorkflow receives, counts and forwards one newsletter's provider events. */
export async function newsletterEventsWorkflow(
  input: { newsletterId: string },
  carried?: EventsState,
): Promise<Engagement> {
  const state: EventsState = carried ??
    { newsletterId: input.newsletterId, counts: { ...NO_ENGAGEMENT }, seen: [], outbox: [], batches: 0 };
  const seen = new Set(state.seen);

  setHandler(engagementQuery, () => ({ ...state.counts }));
  setHandler(deliveryEventsSignal, (events: DeliveryEvent[]) => {
    for (const event of events) {
      if (seen.has(event.eventId)) continue;
      seen.add(event.eventId);
      state.seen.push(event.eventId);
      if (state.seen.length > DEDUPE_WINDOW) seen.delete(state.seen.shift()!);
      const counted = COUNTED[event.kind];
      if (counted) state.counts[counted] += 1;
      state.outbox.push(event);
    }
  });

  const historyFull = () => {
    const info = workflowInfo();
    return info.historyLength >= CONTINUE_AS_NEW_AFTER_EVENTS || info.continueAsNewSuggested;
  };
  /** posting counts this run's batches whose child has not finished yet. */
  let posting = 0;
  /** handOver starts the callback workflow of one batch of the outbox's first events, then drops them from it. */
  const handOver = async (events: DeliveryEvent[]) => {
    state.batches += 1;
    // A newsletter's events begin a new chain of runs after IDLE_CLOSE: its batches are numbered
    // from 1 again, so the chain is part of their id (the backend drops an id it has seen).
    const callback = callbackOf(
      state.newsletterId,
      `${workflowInfo().firstExecutionRunId.slice(0, 8)}-${state.batches}`,
      events,
    );
    const child = await startChild(newsletterEventsCallbackWorkflow, {
      workflowId: eventsCallbackWorkflowIdFor(callback.event_id),
      args: [callback],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
    // Other batches may have left meanwhile: these events are found where they now stand.
    const at = state.outbox.indexOf(events[0]!);
    if (at >= 0) state.outbox.splice(at, events.length);
    posting += 1;
    void child.result().catch(() => undefined).finally(() => {
      posting -= 1;
    });
  };
  for (;;) {
    const woke = await condition(
      () =>
        historyFull() ||
        (state.outbox.length > 0 && posting === 0) || state.outbox.length >= EVENTS_PER_CALLBACK,
      IDLE_CLOSE,
    );
    if (!woke || historyFull()) break;
    const events = state.outbox.slice(0, EVENTS_PER_CALLBACK);
    const inChildren = patched('events-batches-in-child-workflows');
    if (inChildren) {
      await handOver(events);
      continue;
    }
    state.batches += 1;
    const callback = callbackOf(state.newsletterId, state.batches, events);
    // Runs begun before this release post in place, as they did then.
    try {
      await postEvents(callback);
    } catch (err) {
      log.error('events callback given up after 25 hours', { event_id: callback.event_id, error: String(err) });
    }
    state.outbox.splice(0, events.length);
  }
  // Batches still in flight carry on by themselves (ParentClosePolicy.ABANDON).
  if (historyFull() || state.outbox.length > 0) {
    if (patched('events-outbox-leaves-before-continue-as-new')) {
      // Everything not handed over yet leaves now, in batches of its own, instead of riding in
      // the next run's input: after a worker outage the signals that piled up can hold tens of
      // thousands of events, past Temporal's 2 MiB limit on that input.
      const batches: DeliveryEvent[][] = [];
      for (let i = 0; i < state.outbox.length; i += EVENTS_PER_CALLBACK) {
        batches.push(state.outbox.slice(i, i + EVENTS_PER_CALLBACK));
      }
      // A few dozen at a time, each group in a workflow task of its own.
      const group = patched('events-handover-in-groups') ? EVENTS_HANDOVER_BATCHES : batches.length;
      for (let i = 0; i < batches.length; i += group) {
        await Promise.all(batches.slice(i, i + group).map((events) => handOver(events)));
      }
    }
    await condition(allHandlersFinished);
    await continueAsNew<typeof newsletterEventsWorkflow>(input, state);
  }
  return state.counts;
}

/** newsletterEventsCallbackWorkflow hands one batch of events to the backend, retried for 25 hours. */
export async function newsletterEventsCallbackWorkflow(
  callback: NewsletterEventsEvent,
): Promise<'delivered' | 'given up'> {
  try {
    await postEvents(callback);
    return 'delivered';
  } catch (err) {
    log.error('events callback given up after 25 hours', { event_id: callback.event_id, error: String(err) });
    return 'given up';
  }
}

/** callbackOf is the backend's view of a batch of events: `<newsletter_id>:events:<chain>-<n>`. */
function callbackOf(newsletterId: string, batch: string | number, events: DeliveryEvent[]): NewsletterEventsEvent {
  return {
    event_id: `${newsletterId}:events:${batch}`,
    newsletter_id: newsletterId,
    events: events.map((e) => ({
      event_id: e.eventId,
      kind: e.kind,
      ...(e.bounce ? { bounce: e.bounce } : {}),
      provider: e.provider,
      email: e.email,
      ...(e.recipientId ? { recipient_id: e.recipientId } : {}),
      message_id: e.messageId,
      occurred_at: e.occurredAt,
      ...(e.detail ? { detail: e.detail } : {}),
    })),
  };
}
