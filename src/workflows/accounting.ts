/**
 * NewsletterAccounting: the workflow's books for one newsletter — counts, the capped
 * failure sample, batches, lifecycle flags and the status snapshot. A plain class with
 * no Temporal API, so it is unit-tested without a server; its state is plain data
 * (`AccountingState`) that continue-as-new carries to the next run.
 */
import {
  type BackendEvent,
  type BatchOutcome,
  type EventState,
  MAX_REPORTED_FAILURES,
  type NewsletterState,
  type NewsletterStatus,
} from '../domain/types.ts';

/** AccountingState is the books as plain data: what continue-as-new carries. */
export interface AccountingState {
  newsletterId: string;
  traceId?: string;
  startTime: string;
  totalRecipients: number;
  recipientsComplete: boolean;
  batchesTotal: number;
  batchesCompleted: number;
  sent: number;
  failed: number;
  skipped: number;
  sentByProvider: Record<string, number>;
  failures: NewsletterStatus['failures'];
  paused: boolean;
  cancelled: boolean;
  reason?: string;
  /** final is the final state once the newsletter is over. */
  final?: { state: NewsletterState; endTime: string };
  /** pausedBy is who paused it (recorded by runs that know; earlier ones told by whether a reason was set). */
  pausedBy?: 'person' | 'itself';
  /** pauses counts automatic pauses, for stable callback event ids. */
  pauses: number;
  /** resultsHandedOff counts result events handed to results workflows; resultsSettled those that reported back. */
  resultsHandedOff: number;
  resultsSettled: number;
  /** resultsWrittenOff counts owed result events whose results workflows ended without reporting back (terminated). */
  resultsWrittenOff?: number;
  /** scheduledFor is the send time the newsletter waits for (ISO 8601), until it comes. */
  scheduledFor?: string;
  /** failure says why the newsletter cannot be completed (its recipient list cannot be read): it ends FAILED. */
  failure?: string;
}

/** NewsletterAccounting keeps the books of one newsletter across its runs. */
export class NewsletterAccounting {
  readonly state: AccountingState;

  /**
   * whoPaused: record who paused (a cancel or a refused list also sets a reason, which made a
   * person's pause look like the newsletter's own), and a resume neither undoes a cancel nor
   * hides why the list failed. Runs begun before this release replay without it.
   */
  readonly #whoPaused: boolean;

  constructor(state: AccountingState, options: { whoPaused?: boolean } = {}) {
    this.state = state;
    this.#whoPaused = options.whoPaused ?? false;
  }

  /** start opens the books of a new newsletter (scheduled for sendAt, when given). */
  static start(
    init: { newsletterId: string; traceId?: string; startTime: string; sendAt?: string },
  ): NewsletterAccounting {
    return new NewsletterAccounting({
      newsletterId: init.newsletterId,
      ...(init.traceId ? { traceId: init.traceId } : {}),
      ...(init.sendAt ? { scheduledFor: init.sendAt } : {}),
      startTime: init.startTime,
      totalRecipients: 0,
      recipientsComplete: false,
      batchesTotal: 0,
      batchesCompleted: 0,
      sent: 0,
      failed: 0,
      skipped: 0,
      sentByProvider: {},
      failures: [],
      paused: false,
      cancelled: false,
      pauses: 0,
      resultsHandedOff: 0,
      resultsSettled: 0,
    });
  }

  get isFinal(): boolean {
    return this.state.final !== undefined;
  }

  /** failureSlots is how many more failures the sample keeps. */
  get failureSlots(): number {
    return Math.max(0, MAX_REPORTED_FAILURES - this.state.failures.length);
  }

  /** addBatches counts newly known batches and their recipients; complete says no more will come. */
  addBatches(batches: number, recipients: number, complete: boolean): void {
    this.state.batchesTotal += batches;
    this.state.totalRecipients += recipients;
    this.state.recipientsComplete = complete;
  }

  /** record counts what one provider settled of a batch. */
  record(outcome: BatchOutcome): void {
    const s = this.state;
    s.sent += outcome.sent;
    s.failed += outcome.failed;
    s.skipped += outcome.skipped ?? 0;
    if (outcome.sent > 0) s.sentByProvider[outcome.provider] = (s.sentByProvider[outcome.provider] ?? 0) + outcome.sent;
    for (const failure of outcome.failures) {
      if (s.failures.length >= MAX_REPORTED_FAILURES) break;
      s.failures.push(failure);
    }
    if (outcome.resultsOwed) s.resultsHandedOff += 1;
    // A backend page sent as it stands when its request goes, which may be after someone joined
    // it (read ahead with fewer): the total counts them too, so sent + failed + skipped = total.
    s.totalRecipients = Math.max(s.totalRecipients, s.sent + s.failed + s.skipped);
  }

  /** completeBatch marks one batch as fully settled. */
  completeBatch(): void {
    this.state.batchesCompleted += 1;
  }

  /** resultsSettled counts a results workflow that reported back (delivered or given up); it may come before the hand-off is recorded. */
  resultsSettled(): void {
    this.state.resultsSettled += 1;
  }

  /** resultsOwed is how many handed-off result events the backend has not taken yet. */
  get resultsOwed(): number {
    return Math.max(0, this.state.resultsHandedOff - this.state.resultsSettled - (this.state.resultsWrittenOff ?? 0));
  }

  /**
   * writeOffResults gives up on the result events still owed: no results workflow of the newsletter
   * runs any more, so none will report back. A report that comes after all the same counts nothing.
   */
  writeOffResults(): number {
    const owed = this.resultsOwed;
    this.state.resultsWrittenOff = (this.state.resultsWrittenOff ?? 0) + owed;
    return owed;
  }

  /** pausedBy says who paused the newsletter: a person (PauseNewsletter), or itself (pauseItself); undefined when not paused. */
  get pausedBy(): 'person' | 'itself' | undefined {
    if (!this.state.paused || this.isFinal) return undefined;
    if (this.state.pausedBy) return this.state.pausedBy;
    // A pause by a person carries no reason; one the newsletter made itself says why.
    return this.state.reason === undefined ? 'person' : 'itself';
  }

  /** pause stops new batches; returns false when the newsletter is over or cancelled. */
  pause(): boolean {
    if (this.isFinal || this.state.cancelled) return false;
    // Running, the only reason is an outage wait's "next try at": none comes while paused.
    if (!this.state.paused) {
      delete this.state.reason;
      if (this.#whoPaused) this.state.pausedBy = 'person';
    }
    this.state.paused = true;
    return true;
  }

  /** pauseItself pauses with a reason (every provider refused) and counts it for event ids. */
  pauseItself(reason: string): number {
    if (this.#whoPaused) this.state.pausedBy = 'itself';
    this.state.paused = true;
    this.state.reason = reason;
    this.state.pauses += 1;
    return this.state.pauses;
  }

  /**
   * wait shows why a running newsletter sends nothing for now (every provider refused it),
   * or clears that with undefined. A pause or cancel keeps its own reason.
   */
  wait(reason: string | undefined): void {
    if (this.isFinal || this.state.paused || this.state.cancelled) return;
    if (reason === undefined) delete this.state.reason;
    else this.state.reason = reason;
  }

  /** reschedule moves the send time; false once sending has begun (or the newsletter is over or cancelled). */
  reschedule(sendAt: string): boolean {
    if (!this.isScheduled) return false;
    this.state.scheduledFor = sendAt;
    return true;
  }

  /** isScheduled says the newsletter still waits for its send time. */
  get isScheduled(): boolean {
    return this.state.scheduledFor !== undefined && !this.isFinal && !this.state.cancelled;
  }

  /** due ends the wait for the send time: sending may begin. */
  due(): void {
    delete this.state.scheduledFor;
  }

  /** resume lifts a pause (also one the newsletter took itself). */
  resume(): void {
    if (!this.state.paused || this.isFinal) return;
    if (this.#whoPaused) {
      // Cancelled: it stays held while its batches in flight land, then ends CANCELLED.
      if (this.state.cancelled) return;
      delete this.state.pausedBy;
      this.state.paused = false;
      // The list refused: that reason stays until it ends FAILED.
      this.state.reason = this.state.failure;
      if (this.state.reason === undefined) delete this.state.reason;
      return;
    }
    this.state.paused = false;
    this.state.reason = undefined;
  }

  /** fail records why the newsletter cannot be completed; it ends FAILED once what is in flight has landed. */
  fail(reason: string): void {
    if (this.isFinal) return;
    this.state.failure = reason;
    this.state.reason = reason;
  }

  /** cancel records a cancel request; returns false when there is nothing to cancel. */
  cancel(reason: string): boolean {
    if (this.isFinal || this.state.cancelled) return false;
    this.state.cancelled = true;
    this.state.reason = reason;
    return true;
  }

  /**
   * finish closes the books: everything not attempted is skipped (with the suppressed ones
   * counted already), so sent + failed + skipped = total, and the final state is decided. A
   * cancel that came when every recipient had already been attempted cancelled nothing: the
   * newsletter completed, and the status says so.
   */
  finish(endTime: string): NewsletterState {
    const s = this.state;
    const unattempted = Math.max(0, s.totalRecipients - s.sent - s.failed - s.skipped);
    s.skipped += unattempted;
    const cancelledSomething = s.cancelled && (unattempted > 0 || !s.recipientsComplete);
    if (s.cancelled && !cancelledSomething) {
      s.reason = `${s.reason ?? 'cancel requested'}: every recipient had been attempted, nothing was left to cancel`;
    }
    if (s.failure !== undefined && !cancelledSomething) s.reason = s.failure;
    const state: NewsletterState = cancelledSomething
      ? 'CANCELLED'
      : s.failure !== undefined
      ? 'FAILED'
      : s.failed > 0
      ? 'COMPLETED_WITH_FAILURES'
      : 'COMPLETED';
    s.final = { state, endTime };
    s.paused = false;
    delete s.scheduledFor;
    return state;
  }

  /** currentState is the state the status shows now. */
  currentState(): NewsletterState {
    if (this.state.final) return this.state.final.state;
    if (this.state.paused) return 'PAUSED';
    return this.state.scheduledFor !== undefined ? 'SCHEDULED' : 'RUNNING';
  }

  /** snapshot is the status as the API shows it (a copy: callers may keep it); owedEvents are the unsent lifecycle callbacks' ids. */
  snapshot(owedEvents: readonly string[] = []): NewsletterStatus {
    const s = this.state;
    return {
      newsletterId: s.newsletterId,
      state: this.currentState(),
      totalRecipients: s.totalRecipients,
      sent: s.sent,
      failed: s.failed,
      skipped: s.skipped,
      batchesTotal: s.batchesTotal,
      batchesCompleted: s.batchesCompleted,
      sentByProvider: { ...s.sentByProvider },
      failures: [...s.failures],
      startTime: s.startTime,
      ...(s.final ? { endTime: s.final.endTime } : {}),
      ...(s.reason ? { reason: s.reason } : {}),
      ...(s.traceId ? { traceId: s.traceId } : {}),
      callbacksOwed: this.resultsOwed + owedEvents.length,
      owedEvents: [...owedEvents],
      owedResults: this.resultsOwed,
      recipientsComplete: s.recipientsComplete,
      ...(s.scheduledFor && !s.final ? { scheduledFor: s.scheduledFor } : {}),
    };
  }

  /** event is a lifecycle callback with the current counts; eventId is stable per event (`started`, `paused:2`, `final`). */
  event(eventId: string): BackendEvent {
    const s = this.state;
    const state = this.currentState();
    // Lifecycle callbacks begin when sending does (`started`), or with `final`: never while scheduled.
    if (state === 'SCHEDULED') throw new Error(`lifecycle event ${eventId} while scheduled`);
    return {
      event_id: `${s.newsletterId}:${eventId}`,
      newsletter_id: s.newsletterId,
      state: state satisfies EventState,
      total: s.totalRecipients,
      sent: s.sent,
      failed: s.failed,
      skipped: s.skipped,
    };
  }
}
