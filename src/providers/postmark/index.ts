/**
 * Postmark adapter: one `/email/batch` call per sendBatch, through the official SDK,
 * on the broadcast message stream. Postmark answers HTTP 200 with one result per
 * message (partial failure is normal), so each element is classified on its own.
 *
 * Postmark has no idempotency keys. Every message carries the request's key in its
 * Metadata (`nl_request`), so a retry of a request in doubt first asks Postmark's outbound
 * message search which recipients it already accepted (`findAccepted`) and sends only the
 * rest, once Postmark's indexing delay (`searchDelayMs`) has passed since the call in doubt
 * ended (for a call whose end is not on record, since the SDK's timeout would have ended it):
 * a message accepted moments before the search might not be found yet (README, "Guarantees").
 */
import { Errors, type Models, ServerClient } from 'postmark';
import { idMetadata, METADATA_FIELDS } from '../../domain/events.ts';
import type { RenderedEmail } from '../../domain/templating.ts';
import { classifyPostmarkCode, classifyPostmarkError } from './errors.ts';
import { metadataValue } from './metadata.ts';
import { type EmailProvider, type MessageOutcome, ProviderError, type SendOptions } from '../types.ts';

/** PostmarkOptions configures the adapter; baseUrl is a full URL such as http://127.0.0.1:4011/prefix. */
export interface PostmarkOptions {
  apiKey: string;
  baseUrl: string;
  messageStream: string;
  timeoutMs: number;
  /** searchDelayMs is how long Postmark may take to find an accepted message by search (default 10 s). */
  searchDelayMs?: number;
}

/** POSTMARK_SEARCH_DELAY_MS allows for Postmark's indexing: its search finds a message "within seconds". */
export const POSTMARK_SEARCH_DELAY_MS = 10_000;

/** POSTMARK_MAX_BATCH is Postmark's limit of messages per /email/batch call. */
export const POSTMARK_MAX_BATCH = 500;

/** postmarkClientOptions derives the SDK's host (with port and path prefix) and scheme from a base URL. */
export function postmarkClientOptions(baseUrl: string): { useHttps: boolean; requestHost: string } {
  const url = new URL(baseUrl);
  return {
    useHttps: url.protocol === 'https:',
    requestHost: `${url.host}${url.pathname.replace(/\/+$/, '')}`,
  };
}

/** REQUEST_FIELD is the Metadata field naming the request a message went out in (Postmark: keys ≤ 20 chars). */
export const REQUEST_FIELD = METADATA_FIELDS.request;

/** requestTag is a value as Postmark can store it in Metadata (metadata.ts). */
export const requestTag = metadataValue;

/** SEARCH_PAGE is Postmark's largest outbound search page, the size of its largest batch. */
const SEARCH_PAGE = 500;

const toMessage = (m: RenderedEmail, messageStream: string, key: string): Models.Message => ({
  From: m.from,
  To: m.to,
  Subject: m.subject,
  HtmlBody: m.html,
  TextBody: m.text,
  ReplyTo: m.replyTo,
  Headers: Object.entries(m.headers).map(([Name, Value]) => ({ Name, Value })),
  // Postmark keeps Metadata with the message (search, webhooks): the request's key, and whose email it is.
  Metadata: {
    ...m.tags,
    ...idMetadata(m.ids, requestTag),
    [REQUEST_FIELD]: requestTag(key),
  },
  // The newsletter id whole (Metadata keeps 80 characters): a webhook names the newsletter by it.
  ...(m.ids ? { Tag: m.ids.newsletterId } : {}),
  MessageStream: messageStream,
});

/** createPostmarkProvider builds the Postmark EmailProvider. */
export function createPostmarkProvider(options: PostmarkOptions): EmailProvider {
  // The SDK counts its timeout in whole seconds.
  const timeoutSeconds = Math.ceil(options.timeoutMs / 1000);
  const client = new ServerClient(options.apiKey, {
    ...postmarkClientOptions(options.baseUrl),
    timeout: timeoutSeconds,
  });
  return {
    name: 'postmark',
    maxBatchSize: POSTMARK_MAX_BATCH,
    searchDelayMs: options.searchDelayMs ?? POSTMARK_SEARCH_DELAY_MS,
    callTimeoutMs: timeoutSeconds * 1000,
    async sendBatch(messages: RenderedEmail[], { idempotencyKey, signal }: SendOptions): Promise<MessageOutcome[]> {
      // The SDK takes no AbortSignal: a cancelled caller stops waiting (the SDK's own timeout ends the call).
      const responses = await call(
        () => client.sendEmailBatch(messages.map((m) => toMessage(m, options.messageStream, idempotencyKey))),
        signal,
      );
      // An answer that is not one result per message (a proxy's page, an empty body) says nothing of them.
      const results = Array.isArray(responses) ? responses : [];
      return messages.map((_, index): MessageOutcome => {
        const response = results[index];
        if (typeof response?.ErrorCode !== 'number') {
          return { status: 'failed', error: 'no result for this message', failureClass: 'unknown_outcome' };
        }
        if (response.ErrorCode === 0) return { status: 'sent', messageId: response.MessageID };
        return {
          status: 'failed',
          error: `${response.ErrorCode}: ${response.Message}`,
          failureClass: classifyPostmarkCode(response.ErrorCode),
        };
      });
    },
    async findAccepted(messages: RenderedEmail[], { idempotencyKey, signal }: SendOptions) {
      const found = await call(
        () =>
          client.getOutboundMessages({
            count: SEARCH_PAGE,
            offset: 0,
            messageStream: options.messageStream,
            [`metadata_${REQUEST_FIELD}`]: requestTag(idempotencyKey),
          }),
        signal,
      );
      const accepted = new Map<string, string>();
      for (const message of found.Messages) {
        for (const recipient of message.Recipients) accepted.set(recipient.trim().toLowerCase(), message.MessageID);
      }
      return messages.map((m) => accepted.get(m.to.trim().toLowerCase()));
    },
  };
}

/** call makes one SDK call, turning the SDK's errors into classified ProviderErrors. */
async function call<T>(request: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  try {
    return await untilAborted(request(), signal);
  } catch (err) {
    if (!(err instanceof Errors.PostmarkError)) throw err;
    throw new ProviderError({
      provider: 'postmark',
      failureClass: classifyPostmarkError(err.statusCode ?? 0, err.code ?? 0),
      statusCode: err.statusCode || null,
      code: err.code,
      message: err.message,
    });
  }
}

/** untilAborted settles with promise, or rejects with the signal's reason once it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}
