/**
 * The send activity: one provider request for one batch (or the positions of it that
 * other providers did not settle). It reads the batch's recipients itself (`sources.ts`),
 * renders them, makes the request, reports the per-recipient results to the backend
 * (`callbacks.ts`) and returns counts only. Failures are classified by the provider's
 * `errors.ts` and turned into Temporal retries on the same provider, a non-retryable
 * Throttled failure (the workflow sends the request again after the provider's wait) or a
 * non-retryable ProviderUnavailable failure (the workflow fails over). It never picks
 * another provider.
 *
 * Each provider has its own task queue (`<TEMPORAL_TASK_QUEUE>-<provider>`) whose rate the
 * Temporal server limits to the provider account's request rate, so one activity is one
 * provider request.
 */
import { createHash } from 'node:crypto';
import { type Span, trace } from '@opentelemetry/api';
import { activityInfo, Context, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { isEmailAddress, maskAddresses } from '../domain/addresses.ts';
import { normalizeAddress, type Suppression } from '../domain/suppression.ts';
import { ParsedTemplates, type RenderedEmail, renderEmail, RenderError } from '../domain/templating.ts';
import { textTemplateFrom } from '../domain/text-part.ts';
import {
  type BatchOutcome,
  FAILURE_TYPES,
  type NewsletterInput,
  PROVIDER_MAX_MESSAGE_BYTES,
  PROVIDER_MAX_REQUEST_BYTES,
  type ProviderName,
  type ProviderUnavailableDetails,
  type Recipient,
  type RecipientResultEvent,
  type RequestTooLargeDetails,
  type SendBatchInput,
  type SendBatchResult,
  type ThrottledDetails,
} from '../domain/types.ts';
import type { Logger } from '../logger.ts';
import type { CircuitBreaker } from '../providers/circuit-breaker.ts';
import { countsAgainstProvider, decide, type FailureClass } from '../providers/failures.ts';
import { type EmailProvider, type MessageOutcome, ProviderError } from '../providers/types.ts';
import type { DeliveryMetrics } from '../telemetry/metrics.ts';
import { inSpan, SpanKind } from '../telemetry/tracing.ts';
import { type CallbackDeps, reportResults } from './callbacks.ts';
import type { BatchSource } from './sources.ts';

/** DeliveryDeps are what the send activity needs, handed in so tests can supply their own. */
export interface DeliveryDeps {
  providers: ReadonlyMap<ProviderName, EmailProvider>;
  /** suppressions answers which addresses are on the suppression list (absent: none are). */
  suppressions?: () => SuppressionChecker;
  /**
   * suppress puts addresses on the suppression list: those a provider answered it keeps from mail
   * (Postmark's 406), which the other provider does not know of (absent: not listed).
   */
  suppress?: (entries: Suppression[]) => Promise<unknown>;
  breakers: ReadonlyMap<ProviderName, CircuitBreaker>;
  source: BatchSource;
  callbacks: CallbackDeps;
  logger: Logger;
  metrics?: DeliveryMetrics;
  /** unsubscribeSecret signs every unsubscribe link (UNSUBSCRIBE_SIGNING_SECRET; never in workflow history). */
  unsubscribeSecret?: string;
  /**
   * paceMs: on a provider whose queue the server paces for the account's rate, a request that
   * waited for its dispatch (the queue ran at its rate) leaves this long after its activity began
   * (or at once, if reading and rendering took longer), so the provider sees the queue's even
   * cadence, not the spread of page reads: a provider counting one-second windows refuses a
   * request that reaches it later than its slot (the queue's 3% headroom is 30 ms a second). One
   * dispatched at once (the queue below its rate) leaves at once: the newsletter's window, not the
   * rate, bounds it then. Absent or 0: at once.
   */
  paceMs?: Partial<Record<ProviderName, number>>;
}

/** SuppressionChecker answers which of some addresses are on the suppression list (src/suppression/copies.ts). */
export interface SuppressionChecker {
  /** among answers from the worker's copy of the list, or with `fresh` from the list as it stands now. */
  among(emails: string[], options?: { fresh?: boolean }): Promise<Map<string, Suppression>>;
}

/** HEARTBEAT_EVERY_MS is well under the workflow's heartbeat timeout for sendBatch (20 s). */
const HEARTBEAT_EVERY_MS = 5_000;

/**
 * heartbeating records `record` every HEARTBEAT_EVERY_MS until the function it returns is called
 * (a function: built when first recorded, which most requests, done within the interval, never are).
 */
function heartbeating(record: Progress | (() => Progress)): () => void {
  const timer = setInterval(() => heartbeat(typeof record === 'function' ? record() : record), HEARTBEAT_EVERY_MS);
  return () => clearInterval(timer);
}

/** Member is one recipient of the request with its position in the batch. */
interface Member {
  position: number;
  recipient: Recipient;
}

/**
 * Progress is what an attempt heartbeats for the next attempt of the same request (Temporal
 * keeps the last details, also when an attempt fails or its worker dies):
 * - `settled`: the provider answered; what it settled is reported, never sent again;
 * - `unsent`: this attempt (`attempt`) made no request, or the provider definitely refused
 *   it (nothing accepted);
 * - `requesting`: a request left and no answer came back (timeout, lost connection);
 *   `endedAt` (epoch ms) when the call itself ended, absent while it may still be running;
 *   `members`, for a backend page, the member keys the request was for (its body's recipients).
 * A retry is **in doubt** — an earlier attempt may have been accepted — unless the attempt
 * just before it recorded `unsent`: a worker that died mid-request records nothing.
 */
type Progress =
  | { phase: 'settled'; settled: Settled }
  | { phase: 'unsent'; attempt: number }
  | { phase: 'requesting'; endedAt?: number; members?: number[] };

/** progressOf reads the previous attempt's heartbeat details (a bare Settled is the older shape). */
export function progressOf(details: unknown): Progress | undefined {
  if (!details || typeof details !== 'object') return undefined;
  if ('phase' in details) return details as Progress;
  if ('results' in details) return { phase: 'settled', settled: details as Settled };
  return undefined;
}

/** isInDoubt says whether an earlier attempt of this request may have reached the provider. */
export function isInDoubt(attempt: number, progress: Progress | undefined): boolean {
  if (attempt <= 1) return false;
  return !(progress?.phase === 'unsent' && progress.attempt === attempt - 1);
}

/** Settled is what the request settled, heartbeated so a retry never sends it again. */
interface Settled {
  results: Array<RecipientResultEvent & { position: number }>;
  /** remaining lists positions the provider refused for account reasons (for the next provider). */
  remaining: number[];
  refusal?: string;
  /** why the remaining go elsewhere when it is not some messages' refusal: the request's failure, or newcomers. */
  why?: FailureClass | 'page_changed';
}

/**
 * requestId names one provider request by what the workflow asked for (never by the page's
 * content, which may change between attempts): newsletter, batch, provider and, for part of
 * a batch, its positions or member keys. The idempotency key and the results event id derive from it.
 */
export function requestId(input: Pick<SendBatchInput, 'batch' | 'provider' | 'positions' | 'members'>): string {
  const { positions, members } = input;
  // Parts of a batch are nested or disjoint, so first, last and count name one.
  const span = (ids: number[], f: (n: number) => string) => `${f(ids[0]!)}-${f(ids[ids.length - 1]!)}-n${ids.length}`;
  const part = positions?.length
    ? `-p${span(positions, String)}`
    : members?.length
    ? `-m${span(members, (k) => k.toString(36))}`
    : '';
  return `b${input.batch.index}-${input.provider}${part}`;
}

/** idempotencyKey is the same on every attempt of a request, so Resend never accepts it twice. */
export const idempotencyKey = (input: SendBatchInput): string => `nl-${input.newsletterId}-${requestId(input)}`;

/**
 * memberKey names a recipient of a backend page by who it is (its recipient id, else its
 * address), not by where it stands: a page that lost a recipient between two reads shifts
 * the positions after it, never the keys. 48 bits of a SHA-256: a number, unique within a page.
 */
export function memberKey(recipient: Pick<Recipient, 'recipientId' | 'email'>): number {
  const id = recipient.recipientId || normalizeAddress(recipient.email);
  return createHash('sha256').update(id).digest().readUIntBE(0, 6);
}

/** membersOf picks the request's recipients from the batch: all of it, the given members, or the given positions. */
export function membersOf(batch: Recipient[], part: Pick<SendBatchInput, 'positions' | 'members'>): Member[] {
  if (part.members) {
    // Someone who left the list since the part was named is not on the page: not sent.
    const named = new Set(part.members);
    return batch.flatMap((recipient, position) => named.has(memberKey(recipient)) ? [{ position, recipient }] : []);
  }
  const { positions } = part;
  if (!positions) return batch.map((recipient, position) => ({ position, recipient }));
  // A backend page can shrink between attempts (someone left the list): missing positions are skipped.
  return positions.filter((p) => p < batch.length).map((position) => ({ position, recipient: batch[position]! }));
}

/** render personalizes every member's email. */
export function render(
  definition: NewsletterInput,
  members: Member[],
  unsubscribeSecret?: string,
): { messages: RenderedEmail[]; members: Member[]; failed: Array<{ member: Member; error: string }> } {
  const rendered: { messages: RenderedEmail[]; members: Member[]; failed: Array<{ member: Member; error: string }> } = {
    messages: [],
    members: [],
    failed: [],
  };
  // An HTML-only newsletter gets a text part made from its HTML (once per worker: text-part.ts).
  const { html, text } = definition.content;
  const textFallback = text === undefined && html !== undefined ? textTemplateFrom(html) : undefined;
  const templates = new ParsedTemplates();
  for (const member of members) {
    try {
      rendered.messages.push(renderEmail(definition.content, member.recipient, {
        newsletterId: definition.newsletterId,
        unsubscribeBaseUrl: definition.unsubscribeBaseUrl,
        ...(unsubscribeSecret ? { unsubscribeSecret } : {}),
        ...(textFallback !== undefined ? { textFallback } : {}),
        templates,
      }));
      rendered.members.push(member);
    } catch (err) {
      // Its content with its values: the same on every retry and at every provider.
      if (!(err instanceof RenderError)) throw err;
      rendered.failed.push({ member, error: err.message });
    }
  }
  return rendered;
}

/** settleOutcomes maps the provider's per-message outcomes to results, leaving account-level refusals for failover. */
export function settleOutcomes(provider: ProviderName, members: Member[], outcomes: MessageOutcome[]): Settled {
  const settled: Settled = { results: [], remaining: [] };
  let firstRefusal: string | undefined;
  outcomes.forEach((outcome, i) => {
    const { position, recipient } = members[i]!;
    const base = { position, recipient_id: recipient.recipientId, email: recipient.email, provider };
    if (outcome.status === 'sent') {
      settled.results.push({ ...base, status: 'sent', message_id: outcome.messageId });
    } else if (outcome.failureClass === 'rejected_recipient' || outcome.failureClass === 'rejected_content') {
      // Permanent for this recipient: recorded once, never retried, never failed over.
      settled.results.push({ ...base, status: 'failed', error: outcome.error });
    } else if (outcome.failureClass === 'suppressed') {
      // The provider keeps this address from mail: skipped, and never sent elsewhere (that would bypass it).
      settled.results.push({ ...base, status: 'skipped', error: outcome.error });
    } else if (outcome.failureClass === 'unknown_outcome') {
      // The provider took the request but said nothing of this message: it may have gone out, so
      // another provider could mail it twice, and asking again gets the same answer (same key).
      const error = `outcome unknown (${outcome.error}): ${provider} took the request; not sent elsewhere`;
      settled.results.push({ ...base, status: 'failed', error });
    } else {
      settled.remaining.push(position);
      firstRefusal ??= outcome.error;
    }
  });
  // Named by the refusal, never a recipient (also where the provider's text names one): the reason
  // goes into workflow history and logs.
  if (firstRefusal !== undefined) {
    const refusal = maskAddresses(firstRefusal);
    settled.refusal = `${settled.remaining.length} messages refused: ${refusal}`;
  }
  return settled;
}

/** settleAll gives every member the same result (a whole request refused for good, or accepted earlier). */
function settleAll(provider: ProviderName, members: Member[], result: { error?: string }): Settled {
  return {
    results: members.map(({ position, recipient }) => ({
      position,
      recipient_id: recipient.recipientId,
      email: recipient.email,
      provider,
      ...(result.error ? { status: 'failed' as const, error: result.error } : { status: 'sent' as const }),
    })),
    remaining: [],
  };
}

/** outcomeOf counts settled results, keeping at most failureSlots failures. */
export function outcomeOf(
  provider: ProviderName,
  settled: Settled,
  failureSlots: number,
  resultsOwed: boolean,
): BatchOutcome {
  const failed = settled.results.filter((r) => r.status === 'failed');
  const skipped = settled.results.filter((r) => r.status === 'skipped').length;
  return {
    provider,
    sent: settled.results.length - failed.length - skipped,
    failed: failed.length,
    ...(skipped > 0 ? { skipped } : {}),
    failures: failed.slice(0, failureSlots).map((r) => ({
      email: r.email,
      recipientId: r.recipient_id,
      reason: r.error ?? 'failed',
      provider,
    })),
    resultsOwed,
  };
}

/** createDeliveryActivities builds the sendBatch activity around its dependencies. */
export function createDeliveryActivities(deps: DeliveryDeps) {
  return {
    async sendBatch(input: SendBatchInput): Promise<SendBatchResult> {
      const { newsletterId, batch, provider: name } = input;
      const info = activityInfo();
      const waited = waitedForDispatch(info);
      const log = deps.logger.child({ newsletter_id: newsletterId, batch: batch.index, provider: name });

      // Where the activity's time went (logged with the outcome): reading, the request, reporting.
      const ms = { read: 0, send: 0, report: 0 };
      const begun = performance.now();
      let mark = begun;
      const lap = (phase: keyof typeof ms) => {
        const now = performance.now();
        ms[phase] = Math.round(now - mark);
        mark = now;
      };
      // The request's recipients as the batch stands now: read once, when needed.
      let part: Member[] | undefined;
      const readPart = async () => (part ??= membersOf(await deps.source.recipients(input.ref, batch), input));
      // An earlier attempt already made the request: report what it settled, never send again.
      const progress = progressOf(info.heartbeatDetails);
      let settled = progress?.phase === 'settled' ? progress.settled : undefined;
      if (!settled) {
        const inDoubt = isInDoubt(info.attempt, progress);
        let definition: NewsletterInput;
        let members: Member[];
        try {
          definition = await deps.source.definition(input.ref);
          members = await readPart();
        } catch (err) {
          // Nothing was sent by this attempt: the next one is in doubt only if this one was.
          if (!inDoubt) heartbeat({ phase: 'unsent', attempt: info.attempt } satisfies Progress);
          throw err;
        }
        lap('read');
        const provider = deps.providers.get(name);
        if (!provider && inDoubt) {
          // Another provider could send it twice: retried until a worker with this provider takes it.
          throw ApplicationFailure.retryable(
            `request in doubt: ${name} is not configured on this worker (no API key)`,
            'ProviderNotConfigured',
          );
        }
        if (!provider) {
          throw failover(deps, input, log, 'not_configured', 'not configured (no API key)', NOTHING, false, members);
        }
        if (inDoubt) log.info({ attempt: info.attempt }, 'request in doubt: asking the same provider again');
        if (inDoubt && provider.findAccepted) await untilSearchable(provider, progress, log);
        const firstMembers = inDoubt && progress?.phase === 'requesting' ? progress.members : undefined;
        const leaveAt = begun + (waited ? deps.paceMs?.[name] ?? 0 : 0);
        settled = await send(deps, input, provider, definition, members, log, inDoubt, firstMembers, leaveAt);
        heartbeat({ phase: 'settled', settled } satisfies Progress);
        lap('send');
      }

      // Reporting takes up to BACKEND_RESULTS_TIMEOUT_MS and then Temporal calls: heartbeat what
      // was settled meanwhile, or the attempt times out on its heartbeat and its retry reports again.
      const record = { phase: 'settled', settled } satisfies Progress;
      const stopBeating = heartbeating(record);
      const resultsOwed = await report(deps, input, settled).finally(stopBeating);
      lap('report');
      if (settled.remaining.length > 0) {
        const refusal = settled.refusal ?? 'refused';
        const why = settled.why ?? 'refused_messages';
        throw failover(deps, input, log, why, refusal, settled, resultsOwed, await readPart());
      }
      const outcome = outcomeOf(name, settled, input.failureSlots, resultsOwed);
      log.info({ sent: outcome.sent, failed: outcome.failed, results_owed: resultsOwed, ms }, 'batch delivered');
      return outcome;
    },
  };
}

/**
 * untilSearchable waits until a search can find what the attempt in doubt got through: the
 * provider's indexing delay after that attempt's call ended, or, when its end is not on record (a
 * worker that died, an attempt abandoned while its call ran on: the SDK ends it only at its
 * timeout), after the longest that call can still run and be indexed. It heartbeats the earlier
 * attempt's record meanwhile, so an attempt that dies while waiting leaves the same to its retry.
 */
async function untilSearchable(provider: EmailProvider, progress: Progress | undefined, log: Logger): Promise<void> {
  const indexing = provider.searchDelayMs ?? 0;
  const endedAt = progress?.phase === 'requesting' ? progress.endedAt : undefined;
  // Another worker's clock may differ: never wait longer than the indexing delay from now.
  const waitMs = endedAt === undefined
    ? (provider.callTimeoutMs ?? 0) + indexing
    : Math.min(indexing, Math.max(0, endedAt + indexing - Date.now()));
  if (waitMs <= 0) return;
  log.info(
    { wait_ms: waitMs, call_ended: endedAt !== undefined },
    'request in doubt: waiting for the search to see it',
  );
  const record = progress ?? ({ phase: 'requesting' } satisfies Progress);
  const stopBeating = heartbeating(record);
  try {
    await Context.current().sleep(waitMs);
  } finally {
    stopBeating();
  }
}

/**
 * WAITED_FOR_DISPATCH_MS: an attempt scheduled this long before it began waited in the queue's
 * backlog (a request dispatched at once begins within a few ms; the clocks of the server and the
 * worker may differ by a few ms too).
 */
const WAITED_FOR_DISPATCH_MS = 25;

/** waitedForDispatch: the attempt waited on its queue, which was running at its rate. */
function waitedForDispatch(info: { currentAttemptScheduledTimestampMs: number }): boolean {
  return Date.now() - info.currentAttemptScheduledTimestampMs > WAITED_FOR_DISPATCH_MS;
}

/** untilPaced waits until leaveAt (performance.now() time), or returns at once if it has passed. */
async function untilPaced(leaveAt: number): Promise<void> {
  const waitMs = leaveAt - performance.now();
  if (waitMs >= 1) await Context.current().sleep(waitMs);
}

/** report hands the request's settled results to the backend (reportResults); true when they are still owed. */
async function report(deps: DeliveryDeps, input: SendBatchInput, settled: Settled): Promise<boolean> {
  if (settled.results.length === 0) return false;
  return await reportResults(deps.callbacks, {
    event_id: `${input.newsletterId}:results:${requestId(input)}`,
    newsletter_id: input.newsletterId,
    batch: input.batch.index,
    results: settled.results.map(({ position: _, ...result }) => result),
  });
}

/**
 * send makes the one provider request for the part's recipients and settles it (a failover too: what
 * it settled itself, and the rest as remaining), or throws for a retry, a wait or halves. firstMembers, for a request in doubt on a backend page, names who the
 * earlier attempt's request was for.
 */
async function send(
  deps: DeliveryDeps,
  input: SendBatchInput,
  provider: EmailProvider,
  definition: NewsletterInput,
  part: Member[],
  log: Logger,
  inDoubt: boolean,
  firstMembers: number[] | undefined,
  leaveAt: number,
): Promise<Settled> {
  const { name } = provider;
  // Addresses from a backend page are checked here (inline ones were checked at the API).
  const valid: Member[] = [];
  const invalid: Member[] = [];
  for (const m of part) (isEmailAddress(m.recipient.email) ? valid : invalid).push(m);
  const rejected = settleAll(name, invalid, { error: 'not an email address' });
  // Suppressed addresses are skipped, through every provider, on every attempt: a request in
  // doubt leaves out what its first attempt left out (the list only lost an address if someone
  // removed it meanwhile), so it goes again with the same body; a retry that skipped the check
  // would mail them, or report them sent when the provider answers that the key was used. It asks
  // the list itself, not its worker's copy: that may be older than the copy the first attempt
  // checked (another worker's, with SUPPRESSION_MAX_AGE_MS above the wait between attempts).
  if (deps.suppressions && valid.length > 0) {
    const emails = valid.map((m) => m.recipient.email);
    const listed = await deps.suppressions().among(emails, { fresh: inDoubt }).catch((err) => {
      // Nothing was sent by this attempt: the next one is in doubt only if this one was.
      if (!inDoubt) heartbeat({ phase: 'unsent', attempt: activityInfo().attempt } satisfies Progress);
      throw err;
    });
    if (listed.size > 0) {
      const kept = valid.filter((m) => !listed.has(normalizeAddress(m.recipient.email)));
      const skipped = valid.filter((m) => listed.has(normalizeAddress(m.recipient.email))).map((m) => ({
        position: m.position,
        recipient_id: m.recipient.recipientId,
        email: m.recipient.email,
        provider: name,
        status: 'skipped' as const,
        error: `suppressed (${listed.get(normalizeAddress(m.recipient.email))!.reason})`,
      }));
      rejected.results.push(...skipped);
      valid.splice(0, valid.length, ...kept);
    }
  }
  // A backend page read again in doubt may have gained recipients since the request left. In it
  // under the same key, they would change its body: Resend answers that the key was used with
  // another body, and everyone would be counted sent, they too, unsent. They go apart instead, as a
  // request of their own (another key), through the workflow; those who left are simply not on it.
  // Postmark needs none of this: its search finds who the earlier request got through, by address.
  const newcomers: Member[] = [];
  if (inDoubt && firstMembers && !provider.findAccepted) {
    const first = new Set(firstMembers);
    const kept: Member[] = [];
    for (const m of valid) (first.has(memberKey(m.recipient)) ? kept : newcomers).push(m);
    if (newcomers.length > 0) {
      log.info({ newcomers: newcomers.length }, 'request in doubt: recipients joined the page since; sent apart');
      valid.splice(0, valid.length, ...kept);
    }
  }
  const apart = (settled: Settled): Settled =>
    newcomers.length === 0 ? settled : {
      ...settled,
      remaining: [...settled.remaining, ...newcomers.map((m) => m.position)],
      refusal: settled.refusal ??
        `${newcomers.length} recipients joined the page after its request left: sent in a request of their own`,
      why: settled.refusal ? settled.why : 'page_changed',
    };
  // What the request settled itself, counted once it is settled (a retry settles it again).
  const countRejected = () => {
    const skipped = rejected.results.filter((r) => r.status === 'skipped').length;
    if (invalid.length > 0) deps.metrics?.emails(name, 'failed', 'rejected_recipient', invalid.length);
    if (skipped > 0) deps.metrics?.emails(name, 'skipped', 'suppressed', skipped);
  };
  if (valid.length === 0) {
    countRejected();
    return apart(rejected);
  }

  const attempt = activityInfo().attempt;
  const unsent = () => heartbeat({ phase: 'unsent', attempt } satisfies Progress);
  const breaker = deps.breakers.get(name);
  // An open circuit keeps new requests away from a failing provider, but never pre-empts a
  // request in doubt: sending it elsewhere could mail its recipients twice.
  const acquired = inDoubt || !breaker || breaker.tryAcquire();
  if (!acquired) {
    unsent();
    throw failover(deps, input, log, 'circuit_open', 'circuit open', NOTHING, false, part);
  }
  // A call's duration is its provider's time: reset when the request itself leaves (after rendering and any search).
  let started = performance.now();
  const finished = deps.metrics?.batchStarted(name);
  // Heartbeat while the request is in flight: if this worker dies, Temporal retries after the
  // heartbeat timeout (not the start-to-close timeout), with the same idempotency key.
  const cancellation = Context.current().cancellationSignal;
  // Who the request is for, on a backend page: a retry in doubt tells newcomers to the page from them.
  // Hashed only when recorded (a heartbeat, an outcome in doubt): not on every request's path.
  let recorded: Extract<Progress, { phase: 'requesting' }> | undefined;
  const requesting = (): Extract<Progress, { phase: 'requesting' }> =>
    recorded ??= {
      phase: 'requesting',
      ...(input.batch.cursor !== undefined ? { members: valid.map((m) => memberKey(m.recipient)) } : {}),
    };
  const stopBeating = heartbeating(requesting);
  const call = { key: idempotencyKey(input), batch: input.batch.index, signal: cancellation };
  try {
    // An email that cannot be rendered is failed for good, like one over the size a provider takes.
    const drafts = render(definition, valid, deps.unsubscribeSecret);
    let { messages, members } = drafts;
    const unrendered = drafts.failed.flatMap(({ member, error }) => settleAll(name, [member], { error }).results);
    // Cut by bytes as well as count: an email over the provider's message limit is refused for
    // good (its content), and a request over its request limit goes back to the workflow in halves.
    const tooBig = sizeCheck(name, messages);
    const oversized = settleAll(
      name,
      tooBig.oversized.map((i) => members[i]!),
      { error: `email of ${tooBig.bytes} bytes is over ${name}'s limit of ${PROVIDER_MAX_MESSAGE_BYTES[name]}` },
    ).results;
    if (tooBig.oversized.length > 0) {
      const keep = new Set(tooBig.oversized);
      members = members.filter((_, i) => !keep.has(i));
      messages = messages.filter((_, i) => !keep.has(i));
    }
    if (tooBig.requestBytes > PROVIDER_MAX_REQUEST_BYTES[name] && members.length > 1) {
      if (!inDoubt) unsent();
      throw inHalves(
        input,
        part,
        `${members.length} emails of ${tooBig.requestBytes} bytes are over ${name}'s request limit`,
        tooBig.requestBytes,
      );
    }
    const earlier: Settled['results'] = [...unrendered, ...oversized];
    if (inDoubt && provider.findAccepted) {
      // No idempotency key at this provider: ask it what the earlier attempt got through, send only the rest.
      started = performance.now();
      const search = provider.findAccepted.bind(provider);
      const found = await providerCallSpan(name, 'search', messages.length, call.batch, async (span) => {
        const ids = await search(messages, { idempotencyKey: call.key, signal: cancellation });
        span.setAttribute('email.accepted_earlier', ids.filter((id) => id !== undefined).length);
        return ids;
      });
      const rest = found.flatMap((messageId, i) => messageId === undefined ? [i] : []);
      const asked = members;
      found.forEach((messageId, i) => {
        if (messageId === undefined) return;
        const { position, recipient } = asked[i]!;
        earlier.push({
          position,
          recipient_id: recipient.recipientId,
          email: recipient.email,
          provider: name,
          status: 'sent',
          message_id: messageId,
        });
      });
      log.info(
        { accepted_earlier: asked.length - rest.length, to_send: rest.length },
        'request in doubt resolved by a search',
      );
      members = rest.map((i) => asked[i]!);
      messages = rest.map((i) => messages[i]!);
    }
    if (members.length > 0) {
      await untilPaced(leaveAt).catch((err) => {
        // Stopped before the request left (the worker shutting down): nothing was sent.
        if (!inDoubt) unsent();
        throw err;
      });
    }
    started = performance.now();
    const outcomes = members.length > 0 ? await sendTraced(provider, messages, call) : [];
    if (members.length > 0) deps.metrics?.providerCall(name, 'ok', performance.now() - started);
    breaker?.recordSuccess();
    const settled = settleOutcomes(name, members, outcomes);
    countEmails(deps.metrics, name, outcomes);
    await listProviderSuppressed(deps, name, members, outcomes, log);
    const refusedContent = unrendered.length + oversized.length;
    const earlierSent = earlier.length - refusedContent;
    if (earlierSent > 0) deps.metrics?.emails(name, 'sent', 'none', earlierSent);
    if (refusedContent > 0) deps.metrics?.emails(name, 'failed', 'rejected_content', refusedContent);
    countRejected();
    return apart({ ...settled, results: [...rejected.results, ...earlier, ...settled.results] });
  } catch (err) {
    if (cancellation.aborted) {
      // Abandoned (cancelled, or its heartbeat timed out and a retry took over): stop here; a
      // retry of this request is in doubt and asks the same provider again with the same key.
      breaker?.release();
      throw cancellation.reason ?? err;
    }
    if (!(err instanceof ProviderError)) {
      breaker?.release();
      throw err;
    }
    deps.metrics?.providerCall(name, err.failureClass, performance.now() - started);
    if (countsAgainstProvider(err.failureClass)) breaker?.recordFailure();
    else breaker?.release();
    const decision = decide(err.failureClass, attempt, err.retryAfterMs, inDoubt, input.throttles ?? 0);
    // What the next attempt must know: a definite refusal left nothing accepted; anything else keeps it in doubt.
    if (err.failureClass === 'unknown_outcome') {
      heartbeat({ ...requesting(), endedAt: Date.now() } satisfies Progress);
    } else if (!inDoubt) unsent();
    const settleFailed = () => {
      deps.metrics?.emails(name, 'failed', err.failureClass, valid.length);
      countRejected();
      return apart({
        results: [...rejected.results, ...settleAll(name, valid, { error: err.message }).results],
        remaining: [],
      });
    };
    switch (decision.action) {
      case 'split':
        if (valid.length > 1) {
          throw inHalves(
            input,
            part,
            `${name} refused ${valid.length} emails as too large: ${maskAddresses(err.message)}`,
          );
        }
        // One email alone too large is its content's fault.
        return settleFailed();
      case 'settle_failed':
        return settleFailed();
      case 'settle_sent':
        log.info({ failure_class: err.failureClass }, 'an earlier attempt of this request was accepted');
        deps.metrics?.emails(name, 'sent', 'none', valid.length);
        countRejected();
        return apart({ results: [...rejected.results, ...settleAll(name, valid, {}).results], remaining: [] });
      case 'failover':
        // The provider's words about the whole request may name a recipient too: masked as a refusal's are.
        // Settled like any answer: what this request settled itself (invalid or suppressed addresses)
        // is recorded, reported under its id and never reaches the next provider; the rest goes there.
        // Recorded before it is reported: a retry of an attempt that dies now reports the same under
        // that id, instead of sending again and reporting other results under an id the backend has seen.
        countRejected();
        return apart({
          results: rejected.results,
          remaining: valid.map((m) => m.position),
          refusal: `${err.failureClass}: ${maskAddresses(err.message)}`,
          why: err.failureClass,
        });
      case 'give_way': {
        const delayMs = withJitter(decision.delayMs)!;
        deps.metrics?.rateLimitWait(name, delayMs);
        log.info(
          { failure_class: err.failureClass, retry_after_ms: delayMs },
          'throttled: giving way to the next request',
        );
        throw ApplicationFailure.create({
          type: FAILURE_TYPES.throttled,
          message: maskAddresses(err.message),
          nonRetryable: true,
          details: [{ retryAfterMs: delayMs } satisfies ThrottledDetails],
        });
      }
      case 'retry': {
        // A provider that learns what a request in doubt got through by searching needs the
        // search to see it: the retry waits out the provider's indexing delay first.
        const indexing = err.failureClass === 'unknown_outcome' && provider.findAccepted ? provider.searchDelayMs : 0;
        const jittered = withJitter(decision.delayMs);
        const delayMs = indexing ? Math.max(jittered ?? 0, indexing) : jittered;
        if (err.failureClass === 'rate_limited') deps.metrics?.rateLimitWait(name, delayMs ?? 0);
        log.info(
          { failure_class: err.failureClass, retry_after_ms: delayMs },
          'provider call failed: retrying on the same provider',
        );
        throw ApplicationFailure.create({
          type: `Provider_${err.failureClass}`,
          message: maskAddresses(err.message),
          nonRetryable: false,
          nextRetryDelay: delayMs,
        });
      }
    }
    return decision satisfies never;
  } finally {
    stopBeating();
    finished?.();
  }
}

/**
 * withJitter spreads retries after a provider's retry-after over up to 20% more, so
 * requests throttled together do not all come back in the same instant.
 */
export function withJitter(delayMs: number | undefined, random: () => number = Math.random): number | undefined {
  return delayMs === undefined ? undefined : Math.round(delayMs * (1 + 0.2 * random()));
}

/**
 * inHalves is the non-retryable RequestTooLarge failure that sends the request back to the
 * workflow, which sends it again in halves on the same provider. A backend page's part is
 * halved by who is in it: its positions may shift before the halves are read.
 */
function inHalves(input: SendBatchInput, part: Member[], message: string, bytes?: number): ApplicationFailure {
  return ApplicationFailure.create({
    type: FAILURE_TYPES.requestTooLarge,
    message,
    nonRetryable: true,
    details: [
      {
        ...(bytes !== undefined ? { bytes } : {}),
        limit: PROVIDER_MAX_REQUEST_BYTES[input.provider],
        ...(input.batch.cursor !== undefined ? { members: part.map((m) => memberKey(m.recipient)) } : {}),
      } satisfies RequestTooLargeDetails,
    ],
  });
}

/** SUPPRESS_WAIT_MS bounds putting a provider's suppressions on the list: the request is settled already. */
const SUPPRESS_WAIT_MS = 10_000;

/**
 * listProviderSuppressed puts the addresses the provider answered it keeps from mail (Postmark's
 * 406 inactive recipient: a bounce, complaint or unsubscribe it knows of, maybe from before this
 * service or without a webhook) on the suppression list, as Resend's `email.suppressed` webhook
 * does: after a failover, the other provider would mail them. Best effort: the request is
 * settled whatever happens here, and the provider goes on refusing them meanwhile.
 */
async function listProviderSuppressed(
  deps: DeliveryDeps,
  provider: ProviderName,
  members: Member[],
  outcomes: MessageOutcome[],
  log: Logger,
): Promise<void> {
  if (!deps.suppress) return;
  const createdAt = new Date().toISOString();
  const entries: Suppression[] = outcomes.flatMap((outcome, i) =>
    outcome.status === 'failed' && outcome.failureClass === 'suppressed'
      ? [{
        email: normalizeAddress(members[i]!.recipient.email),
        reason: 'provider_suppressed' as const,
        source: provider,
        detail: outcome.error.slice(0, 500),
        createdAt,
      }]
      : []
  );
  if (entries.length === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${SUPPRESS_WAIT_MS} ms`)), SUPPRESS_WAIT_MS);
  });
  try {
    await Promise.race([deps.suppress(entries), late]);
  } catch (err) {
    log.warn({ addresses: entries.length, err: String(err) }, 'could not list the addresses the provider suppresses');
  } finally {
    clearTimeout(timer);
  }
}

/** NOTHING is what a request settled when it failed over before asking its provider. */
const NOTHING: Settled = { results: [], remaining: [] };

/**
 * failover builds the non-retryable ProviderUnavailable failure that sends what is left to the
 * next provider: the request's recipients as the batch stands now (`part`) that it did not
 * settle. On a backend page they are named by member key, since what this attempt settled may
 * have been settled on an earlier read of the page, where positions stood otherwise.
 */
function failover(
  deps: DeliveryDeps,
  input: SendBatchInput,
  log: Logger,
  why: FailureClass | 'circuit_open' | 'not_configured' | 'refused_messages' | 'page_changed',
  reason: string,
  settled: Settled,
  resultsOwed: boolean,
  part: Member[],
): ApplicationFailure {
  const name = input.provider;
  const page = input.batch.cursor !== undefined;
  const done = new Set(
    settled.results.map((r) => page ? memberKey({ recipientId: r.recipient_id, email: r.email }) : r.position),
  );
  const left = part.filter((m) => !done.has(page ? memberKey(m.recipient) : m.position));
  const details: ProviderUnavailableDetails = {
    provider: name,
    reason,
    settled: outcomeOf(name, settled, input.failureSlots, resultsOwed),
    remaining: left.map((m) => m.position),
    ...(page ? { remainingMembers: left.map((m) => memberKey(m.recipient)) } : {}),
    ...(why === 'page_changed' ? { pageChanged: true } : {}),
  };
  if (why === 'page_changed') {
    // Not a provider's failure: the workflow sends them on the same provider (nothing counted as a failover).
    log.info(
      { newcomers: left.length },
      'recipients who joined the page go back to the workflow, to the same provider',
    );
    return ApplicationFailure.create({
      type: FAILURE_TYPES.providerUnavailable,
      message: `${name}: ${reason}`,
      nonRetryable: true,
      details: [details],
    });
  }
  deps.metrics?.failover(name, input.failoverTo ?? 'none', why);
  // Visible on the RunActivity span: the trace of a newsletter shows where and why it failed over.
  trace.getActiveSpan()?.addEvent('failover', {
    'email.provider': name,
    'failover.to': input.failoverTo ?? 'none',
    'failover.reason': why,
  });
  log.warn(
    { reason, failure_class: why, settled: settled.results.length },
    'provider unavailable for this batch: failing over',
  );
  return ApplicationFailure.create({
    type: FAILURE_TYPES.providerUnavailable,
    message: `${name} unavailable: ${reason}`,
    nonRetryable: true,
    details: [details],
  });
}

/** sendTraced makes one provider call inside a CLIENT span carrying provider, batch size and outcome. */
function sendTraced(
  provider: EmailProvider,
  messages: RenderedEmail[],
  call: { key: string; batch: number; signal: AbortSignal },
): Promise<MessageOutcome[]> {
  return providerCallSpan(provider.name, 'send batch', messages.length, call.batch, async (span) => {
    const outcomes = await provider.sendBatch(messages, { idempotencyKey: call.key, signal: call.signal });
    span.setAttribute('email.sent', outcomes.filter((o) => o.status === 'sent').length);
    span.setAttribute('email.failed', outcomes.filter((o) => o.status === 'failed').length);
    return outcomes;
  });
}

/** providerCallSpan runs one call to a provider inside a CLIENT span: provider, batch size, and the failure class when it fails. */
function providerCallSpan<T>(
  provider: ProviderName,
  operation: 'send batch' | 'search',
  messages: number,
  batch: number,
  call: (span: Span) => Promise<T>,
): Promise<T> {
  return inSpan(`${provider} ${operation}`, {
    kind: SpanKind.CLIENT,
    attributes: { 'email.provider': provider, 'email.batch_size': messages, 'newsletter.batch': batch },
  }, async (span) => {
    try {
      return await call(span);
    } catch (err) {
      if (err instanceof ProviderError) {
        span.setAttribute('email.failure_class', err.failureClass);
        if (err.statusCode !== null) span.setAttribute('http.response.status_code', err.statusCode);
      }
      throw err;
    }
  });
}

/** sizeCheck measures a request's rendered emails: which are over the provider's message limit, and the request's bytes without them. */
export function sizeCheck(
  provider: ProviderName,
  messages: RenderedEmail[],
): { oversized: number[]; bytes: number; requestBytes: number } {
  const oversized: number[] = [];
  let requestBytes = 0;
  let bytes = 0;
  messages.forEach((m, i) => {
    const size = emailBytes(m);
    if (size > PROVIDER_MAX_MESSAGE_BYTES[provider]) {
      oversized.push(i);
      bytes = Math.max(bytes, size);
    } else {
      requestBytes += size;
    }
  });
  return { oversized, bytes, requestBytes };
}

/** emailBytes is about what one email weighs in a request (its texts, headers and tags), without serializing it. */
function emailBytes(m: RenderedEmail): number {
  let bytes = 256; // field names, addresses and JSON punctuation
  for (const text of [m.subject, m.html, m.text, m.from, m.to, m.replyTo]) bytes += text ? Buffer.byteLength(text) : 0;
  for (const [k, v] of [...Object.entries(m.headers), ...Object.entries(m.tags)]) {
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  return bytes;
}

/** countEmails reports what one accepted call settled. */
function countEmails(metrics: DeliveryMetrics | undefined, provider: ProviderName, outcomes: MessageOutcome[]): void {
  if (!metrics) return;
  metrics.emails(provider, 'sent', 'none', outcomes.filter((o) => o.status === 'sent').length);
  for (const outcome of outcomes) {
    if (outcome.status !== 'failed') continue;
    if (
      outcome.failureClass === 'rejected_recipient' || outcome.failureClass === 'rejected_content' ||
      outcome.failureClass === 'unknown_outcome'
    ) {
      metrics.emails(provider, 'failed', outcome.failureClass, 1);
    } else if (outcome.failureClass === 'suppressed') {
      metrics.emails(provider, 'skipped', outcome.failureClass, 1);
    }
  }
}
