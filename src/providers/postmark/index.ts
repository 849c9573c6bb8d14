/**
 * Postmark adapter: one `/email/batch` call per sendBatch, through the official SDK,
 * on the broadcast message stream. Postmark answers HTTP 200 with one result per
 * message (partial failure is normal), so each element is classified on its own.
 *
 * Postmark has no idempotency keys: a retry after a timeout whose first attempt was
 * in fact accepted sends that batch twice. The activity retries only on the same
 * provider and records settled chunks in heartbeats to keep that window small.
 */
import { Errors, type Models, ServerClient } from 'postmark';
import type { RenderedEmail } from '../../domain/templating.ts';
import { classifyPostmarkCode, classifyPostmarkError } from './errors.ts';
import { type EmailProvider, type MessageOutcome, ProviderError, type SendOptions } from '../types.ts';

/** PostmarkOptions configures the adapter; baseUrl is a full URL such as http://127.0.0.1:4011/prefix. */
export interface PostmarkOptions {
  apiKey: string;
  baseUrl: string;
  messageStream: string;
  timeoutMs: number;
}

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

const toMessage = (m: RenderedEmail, messageStream: string): Models.Message => ({
  From: m.from,
  To: m.to,
  Subject: m.subject,
  HtmlBody: m.html,
  TextBody: m.text,
  ReplyTo: m.replyTo,
  Headers: Object.entries(m.headers).map(([Name, Value]) => ({ Name, Value })),
  Metadata: m.tags,
  MessageStream: messageStream,
});

/** createPostmarkProvider builds the Postmark EmailProvider. */
export function createPostmarkProvider(options: PostmarkOptions): EmailProvider {
  const client = new ServerClient(options.apiKey, {
    ...postmarkClientOptions(options.baseUrl),
    timeout: Math.ceil(options.timeoutMs / 1000),
  });
  return {
    name: 'postmark',
    maxBatchSize: POSTMARK_MAX_BATCH,
    async sendBatch(messages: RenderedEmail[], _options: SendOptions): Promise<MessageOutcome[]> {
      let responses: Models.MessageSendingResponse[];
      try {
        responses = await client.sendEmailBatch(messages.map((m) => toMessage(m, options.messageStream)));
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
      return messages.map((_, index): MessageOutcome => {
        const response = responses[index];
        if (!response) {
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
  };
}
