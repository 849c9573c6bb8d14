/**
 * Resend adapter: one `/emails/batch` call per sendBatch, through the official SDK.
 * Permissive batch validation lets valid messages go out while invalid ones come
 * back as per-index errors (recorded as permanent per-recipient failures).
 */
import { createHash } from 'node:crypto';
import { type CreateBatchOptions, Resend } from 'resend';
import { withDeadline } from '../../deadline.ts';
import { idMetadata } from '../../domain/events.ts';
import type { RenderedEmail } from '../../domain/templating.ts';
import { BATCH_ITEM_FAILURE, classifyResendError } from './errors.ts';
import { type EmailProvider, type MessageOutcome, ProviderError, type SendOptions } from '../types.ts';

/** ResendOptions configures the adapter; baseUrl is a full URL without trailing slash. */
export interface ResendOptions {
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
}

/** RESEND_MAX_BATCH is Resend's limit of emails per /emails/batch call. */
export const RESEND_MAX_BATCH = 100;

/** tagValue is a value as a Resend tag can hold it ([A-Za-z0-9_-]{1,256}); others travel hashed. */
export const tagValue = (value: string): string =>
  /^[A-Za-z0-9_-]{1,256}$/.test(value) ? value : `sha256-${createHash('sha256').update(value).digest('hex')}`;

const toPayload = (messages: RenderedEmail[]): CreateBatchOptions =>
  messages.map((m) => ({
    from: m.from,
    to: [m.to],
    subject: m.subject,
    // The SDK's types make html/text/react mutually exclusive variants; both may be sent.
    html: m.html as string,
    text: m.text as string,
    ...(m.replyTo ? { replyTo: m.replyTo } : {}),
    headers: m.headers,
    // The newsletter and recipient ride along, so a webhook event names them by itself (src/domain/events.ts).
    tags: Object.entries({ ...m.tags, ...idMetadata(m.ids, tagValue) }).map(([name, value]) => ({ name, value })),
  }));

const retryAfterMs = (headers: Record<string, string> | null): number | undefined => {
  const value = headers?.['retry-after'];
  const seconds = value === undefined ? NaN : Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
};

/** createResendProvider builds the Resend EmailProvider. */
export function createResendProvider(options: ResendOptions): EmailProvider {
  const client = new Resend(options.apiKey, { baseUrl: options.baseUrl });
  return {
    name: 'resend',
    maxBatchSize: RESEND_MAX_BATCH,
    async sendBatch(messages: RenderedEmail[], { idempotencyKey, signal }: SendOptions): Promise<MessageOutcome[]> {
      const { data, error, headers } = await withDeadline(
        options.timeoutMs,
        signal,
        (bounded) =>
          client.batch.send(toPayload(messages), { idempotencyKey, batchValidation: 'permissive', signal: bounded }),
      );
      if (error || !data) {
        // The SDK never throws; a missing response (network, timeout) has statusCode null.
        const statusCode = typeof error?.statusCode === 'number' ? error.statusCode : null;
        throw new ProviderError({
          provider: 'resend',
          failureClass: classifyResendError(statusCode, error?.name),
          statusCode,
          code: error?.name,
          message: error?.message ?? 'empty response',
          retryAfterMs: retryAfterMs(headers),
        });
      }
      // Resend answers ids for the accepted emails in request order, skipping rejected indexes.
      const rejected = new Map((Array.isArray(data.errors) ? data.errors : []).map((e) => [e.index, e.message]));
      // An answer without its list of ids (a proxy's 200, a changed API) says nothing of the emails.
      const ids = Array.isArray(data.data) ? [...data.data] : [];
      return messages.map((_, index): MessageOutcome => {
        const reason = rejected.get(index);
        if (reason !== undefined) return { status: 'failed', error: reason, failureClass: BATCH_ITEM_FAILURE };
        const id = ids.shift();
        return typeof id?.id === 'string'
          ? { status: 'sent', messageId: id.id }
          : { status: 'failed', error: 'no id returned for this message', failureClass: 'unknown_outcome' };
      });
    },
  };
}
