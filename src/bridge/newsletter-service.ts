/**
 * NewsletterService implementation: validates, then delegates to the gateway.
 * Errors are thrown as they are; server.ts maps them to gRPC codes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RpcInputStream, ServerCallContext } from '@protobuf-ts/runtime-rpc';
import type {
  AddSuppressionRequest,
  AddSuppressionResponse,
  CancelNewsletterRequest,
  CancelNewsletterResponse,
  GetNewsletterStatusRequest,
  GetNewsletterStatusResponse,
  ListSuppressionsRequest,
  ListSuppressionsResponse,
  PauseNewsletterRequest,
  PauseNewsletterResponse,
  RemoveSuppressionRequest,
  RemoveSuppressionResponse,
  RescheduleNewsletterRequest,
  RescheduleNewsletterResponse,
  ResumeNewsletterRequest,
  ResumeNewsletterResponse,
  SendNewsletterRequest,
  SendNewsletterResponse,
  WatchNewsletterRequest,
  WatchNewsletterResponse,
} from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import type { INewsletterService } from '../../contracts/gen/authentik/temporal/v1/newsletter.server.ts';
import type { RequestLimits } from '../config.ts';
import { FINAL_STATES, type NewsletterInput } from '../domain/types.ts';
import { CONTROL_CHARACTERS, isEmailAddress } from '../domain/addresses.ts';
import { normalizeAddress } from '../domain/suppression.ts';
import { Timestamp } from '../../contracts/gen/google/protobuf/timestamp.ts';
import { InvalidArgumentError, ShuttingDownError, StreamLifetimeError } from './errors.ts';
import { timestampOf, toStatusMessage } from './convert.ts';
import { currentTraceId } from '../telemetry/tracing.ts';
import type { NewsletterGateway } from './temporal-gateway.ts';
import {
  type DeliveryDefaults,
  isNewsletterId,
  sendAtProblem,
  toNewsletterInput,
  validateNewsletterId,
} from './validation.ts';

/** MAX_REASON_CHARS bounds a cancel's reason, as AddSuppression bounds its detail. */
const MAX_REASON_CHARS = 500;
/** MAX_SUPPRESSION_PAGE bounds ListSuppressions pages and the addresses of one Add/RemoveSuppression. */
const MAX_SUPPRESSION_PAGE = 1_000;

/** validateAddresses checks the emails of Add/RemoveSuppression: 1 to MAX_SUPPRESSION_PAGE addresses. */
function validateAddresses(emails: string[]): string[] {
  if (emails.length === 0) throw new InvalidArgumentError(['emails: at least one address is required']);
  if (emails.length > MAX_SUPPRESSION_PAGE) {
    throw new InvalidArgumentError([`emails: at most ${MAX_SUPPRESSION_PAGE} addresses per call`]);
  }
  const bad = emails.flatMap((email, i) => isEmailAddress(email.trim()) ? [] : [`emails[${i}]: not an email address`]);
  if (bad.length > 0) throw new InvalidArgumentError(bad.slice(0, 10));
  return emails.map(normalizeAddress);
}

/** WATCH_POLL_MS is how often WatchNewsletter reads the status. */
const WATCH_POLL_MS = 500;

/**
 * createNewsletterService builds the NewsletterService handlers; closing is aborted when the
 * bridge begins to shut down (open watches end then, UNAVAILABLE).
 */
export function createNewsletterService(
  gateway: NewsletterGateway,
  defaults: DeliveryDefaults,
  limits: Pick<RequestLimits, 'watchLifetimeMs'>,
  closing: AbortSignal = new AbortController().signal,
): INewsletterService {
  return {
    async sendNewsletter(request: SendNewsletterRequest): Promise<SendNewsletterResponse> {
      const traceId = currentTraceId();
      let converted: NewsletterInput;
      try {
        converted = toNewsletterInput(request, defaults);
      } catch (err) {
        // newsletter_id is the idempotency key: a repeat of a newsletter that exists is answered as the
        // first call was, also when it no longer passes (a send_at that has passed since, say).
        const existing = err instanceof InvalidArgumentError && isNewsletterId(request.newsletterId)
          ? await gateway.existing(request.newsletterId)
          : undefined;
        if (existing) return { newsletterId: request.newsletterId, ...existing, traceId: existing.traceId ?? '' };
        throw err;
      }
      const input = { ...converted, ...(traceId ? { traceId } : {}) };
      const started = await gateway.start(input);
      return { newsletterId: input.newsletterId, ...started, traceId: started.traceId ?? traceId ?? '' };
    },

    async getNewsletterStatus(request: GetNewsletterStatusRequest): Promise<GetNewsletterStatusResponse> {
      validateNewsletterId(request.newsletterId);
      return { status: toStatusMessage(await gateway.status(request.newsletterId)) };
    },

    async cancelNewsletter(request: CancelNewsletterRequest): Promise<CancelNewsletterResponse> {
      validateNewsletterId(request.newsletterId);
      // The reason goes into the workflow's history and status (and an update's answer repeats it).
      if (request.reason.length > MAX_REASON_CHARS) {
        throw new InvalidArgumentError([
          `reason: at most ${MAX_REASON_CHARS} characters (got ${request.reason.length})`,
        ]);
      }
      if (CONTROL_CHARACTERS.test(request.reason)) {
        throw new InvalidArgumentError(['reason: must not contain control characters']);
      }
      return { status: toStatusMessage(await gateway.cancel(request.newsletterId, request.reason)) };
    },

    async pauseNewsletter(request: PauseNewsletterRequest): Promise<PauseNewsletterResponse> {
      validateNewsletterId(request.newsletterId);
      return { status: toStatusMessage(await gateway.pause(request.newsletterId)) };
    },

    async resumeNewsletter(request: ResumeNewsletterRequest): Promise<ResumeNewsletterResponse> {
      validateNewsletterId(request.newsletterId);
      return { status: toStatusMessage(await gateway.resume(request.newsletterId)) };
    },

    async rescheduleNewsletter(request: RescheduleNewsletterRequest): Promise<RescheduleNewsletterResponse> {
      validateNewsletterId(request.newsletterId);
      if (!request.sendAt) throw new InvalidArgumentError(['send_at: required']);
      const problem = sendAtProblem(request.sendAt);
      if (problem) throw new InvalidArgumentError([problem]);
      const sendAt = Timestamp.toDate(request.sendAt);
      return { status: toStatusMessage(await gateway.reschedule(request.newsletterId, sendAt)) };
    },

    async listSuppressions(request: ListSuppressionsRequest): Promise<ListSuppressionsResponse> {
      const pageSize = request.pageSize || 100;
      if (pageSize > MAX_SUPPRESSION_PAGE) {
        throw new InvalidArgumentError([`page_size: at most ${MAX_SUPPRESSION_PAGE}`]);
      }
      const page = await gateway.listSuppressions(request.pageToken, pageSize);
      return {
        suppressions: page.entries.map((s) => ({
          email: s.email,
          reason: s.reason,
          source: s.source,
          detail: s.detail ?? '',
          // An entry stored before times were checked may hold one that does not parse: left out, not INTERNAL.
          createdAt: timestampOf(s.createdAt),
        })),
        nextPageToken: page.nextPageToken,
      };
    },

    async addSuppression(request: AddSuppressionRequest): Promise<AddSuppressionResponse> {
      const emails = validateAddresses(request.emails);
      if (CONTROL_CHARACTERS.test(request.detail)) {
        throw new InvalidArgumentError(['detail: must not contain control characters']);
      }
      const createdAt = new Date().toISOString();
      const added = await gateway.addSuppressions(emails.map((email) => ({
        email,
        reason: 'manual' as const,
        source: 'api',
        ...(request.detail ? { detail: request.detail.slice(0, 500) } : {}),
        createdAt,
      })));
      return { added };
    },

    async removeSuppression(request: RemoveSuppressionRequest): Promise<RemoveSuppressionResponse> {
      return { removed: await gateway.removeSuppressions(validateAddresses(request.emails)) };
    },

    async watchNewsletter(
      request: WatchNewsletterRequest,
      responses: RpcInputStream<WatchNewsletterResponse>,
      context: ServerCallContext,
    ): Promise<void> {
      validateNewsletterId(request.newsletterId);
      const ends = Date.now() + limits.watchLifetimeMs;
      const expired = () => new StreamLifetimeError('WatchNewsletter', limits.watchLifetimeMs);
      // A write waits while the caller reads nothing (HTTP/2 flow control), or for ever once it has
      // gone: the stream ends at its lifetime, its cancellation or the bridge's shutdown all the
      // same, freeing its place. One signal stands for all three: the poll's wait takes it, so
      // nothing piles up on a long-lived promise poll after poll.
      const done = new AbortController();
      const timer = setTimeout(() => done.abort(), limits.watchLifetimeMs);
      const stopCancelWatch = context.onCancel(() => done.abort());
      const closed = () => done.abort();
      closing.addEventListener('abort', closed, { once: true });
      if (closing.aborted) done.abort();
      const over = new Promise<'over'>((resolve) => done.signal.addEventListener('abort', () => resolve('over')));
      /** ended throws why the stream ends, or returns when the caller went away. */
      const ended = () => {
        if (context.cancelled) return;
        if (closing.aborted) throw new ShuttingDownError('WatchNewsletter');
        throw expired();
      };
      try {
        let last = '';
        while (!context.cancelled) {
          if (done.signal.aborted || Date.now() >= ends) return ended();
          const status = await gateway.status(request.newsletterId);
          const key = JSON.stringify(status);
          if (key !== last) {
            last = key;
            const written = await Promise.race([responses.send({ status: toStatusMessage(status) }), over]);
            if (written === 'over') return ended();
          }
          if (FINAL_STATES.includes(status.state)) break;
          await sleep(WATCH_POLL_MS, undefined, { signal: done.signal }).catch(() => undefined);
        }
        await responses.complete();
      } finally {
        clearTimeout(timer);
        stopCancelWatch();
        closing.removeEventListener('abort', closed);
      }
    },
  };
}
