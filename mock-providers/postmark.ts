/**
 * The Postmark half of the mock: `POST /email` and `POST /email/batch` answered the way the
 * real API answers them, so the official SDK (postmark@5) cannot tell the difference.
 * The SDK turns a non-2xx answer into an error class chosen by HTTP status and `ErrorCode`
 * (422+406 → InactiveRecipientsError, whose `.recipients` it parses out of `Message`), so
 * statuses, codes and message texts here are load-bearing.
 */

import { randomUUID } from 'node:crypto';
import { parseMailbox, splitAddressList } from './addresses.ts';
import { headerValue, parseJson } from './http.ts';
import type { HttpAnswer, ProviderHandler, SendRequest } from './http.ts';
import type { Fault, ReceivedEmail } from './types.ts';
import type { ProviderState } from './state.ts';

/** POSTMARK_MAX_BATCH is the most messages one `/email/batch` call may carry. */
export const POSTMARK_MAX_BATCH = 500;

/** POSTMARK_MAX_RECIPIENTS is the most addresses one message may carry across To, Cc and Bcc. */
export const POSTMARK_MAX_RECIPIENTS = 50;

/** POSTMARK_STREAMS are the message streams the mock server has: the default transactional one and a broadcast one. */
export const POSTMARK_STREAMS: readonly string[] = ['outbound', 'broadcast'];

type Accepted = Omit<ReceivedEmail, 'messageId' | 'receivedAt' | 'idempotencyKey'>;
type Checked = { ok: true; email: Accepted; to: string } | { ok: false; code: number; message: string };

/** SendResult is one message's result as Postmark reports it (a batch element, or the body of a single send). */
type SendResult =
  | { To: string; SubmittedAt: string; MessageID: string; ErrorCode: 0; Message: 'OK' }
  | { ErrorCode: number; Message: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** postmarkDefaultErrorCode is the ErrorCode a Postmark error of this HTTP status carries when none is given. */
export function postmarkDefaultErrorCode(status: number): number {
  switch (status) {
    case 401:
      return 10;
    case 422:
      return 300;
    case 503:
      return 100;
    default:
      // Postmark documents no code for 429/500; 0 keeps the SDK's class choice purely status-based.
      return 0;
  }
}

function error(status: number, code: number, message: string, headers?: Record<string, string>): HttpAnswer {
  return { status, body: { ErrorCode: code, Message: message }, ...(headers ? { headers } : {}) };
}

function faultAnswer(fault: Fault): HttpAnswer {
  const retry = fault.retryAfterSeconds === undefined ? undefined : { 'retry-after': String(fault.retryAfterSeconds) };
  return error(
    fault.status,
    fault.errorCode ?? postmarkDefaultErrorCode(fault.status),
    fault.message ?? `Injected fault: HTTP ${fault.status}.`,
    retry,
  );
}

/** inactiveMessage is Postmark's 406 text; the SDK extracts the addresses between "Found inactive addresses: " and ". Inactive". */
export function inactiveMessage(addresses: string[]): string {
  return 'You tried to send to recipient(s) that have been marked as inactive. ' +
    `Found inactive addresses: ${addresses.join(', ')}. ` +
    'Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.';
}

/** Postmark's limits on Metadata (10 fields, names of 20 characters, values of 80) and on a message's Tag. */
const METADATA_FIELDS_MAX = 10;
const METADATA_NAME_MAX = 20;
const METADATA_VALUE_MAX = 80;
const TAG_MAX = 1000;

function checkMessage(state: ProviderState, input: unknown): Checked {
  if (!isObject(input)) {
    return { ok: false, code: 300, message: 'Invalid email request: each message must be a JSON object.' };
  }
  const from = input['From'];
  if (typeof from !== 'string' || parseMailbox(from) === null) {
    return { ok: false, code: 300, message: `Invalid 'From' address: '${typeof from === 'string' ? from : ''}'.` };
  }
  const recipients: { field: string; address: string }[] = [];
  for (const field of ['To', 'Cc', 'Bcc'] as const) {
    const value = input[field];
    if (!present(value)) continue;
    if (typeof value !== 'string') {
      return { ok: false, code: 300, message: `Invalid '${field}' address: '${String(value)}'.` };
    }
    for (const address of splitAddressList(value)) recipients.push({ field, address });
  }
  if (recipients.length === 0) return { ok: false, code: 300, message: 'Zero recipients specified' };
  if (recipients.length > POSTMARK_MAX_RECIPIENTS) {
    return {
      ok: false,
      code: 300,
      message: `Too many recipients: a message may have at most ${POSTMARK_MAX_RECIPIENTS} (To, Cc and Bcc together).`,
    };
  }
  const inactive: string[] = [];
  for (const { field, address } of recipients) {
    const bare = parseMailbox(address);
    if (bare === null || state.addressStatus(bare) === 'invalid') {
      return { ok: false, code: 300, message: `Invalid '${field}' address: '${address}'.` };
    }
    if (state.addressStatus(bare) === 'inactive') inactive.push(bare);
  }
  const subject = input['Subject'];
  if (present(subject) && typeof subject !== 'string') {
    return { ok: false, code: 300, message: "Invalid 'Subject' value." };
  }
  const html = input['HtmlBody'];
  const text = input['TextBody'];
  const hasHtml = typeof html === 'string' && html !== '';
  const hasText = typeof text === 'string' && text !== '';
  if (!hasHtml && !hasText) {
    return { ok: false, code: 300, message: 'Provide either email TextBody or HtmlBody or both.' };
  }
  const replyTo = input['ReplyTo'];
  if (present(replyTo)) {
    if (typeof replyTo !== 'string') return { ok: false, code: 300, message: "Invalid 'ReplyTo' address: ''." };
    const bad = splitAddressList(replyTo).find((address) => parseMailbox(address) === null);
    if (bad !== undefined) return { ok: false, code: 300, message: `Invalid 'ReplyTo' address: '${bad}'.` };
  }
  const headers: Record<string, string> = {};
  if (present(input['Headers'])) {
    const raw = input['Headers'];
    if (!Array.isArray(raw)) {
      return { ok: false, code: 300, message: "Invalid 'Headers' value: expected [{ Name, Value }]." };
    }
    for (const header of raw) {
      if (
        !isObject(header) || typeof header['Name'] !== 'string' || header['Name'] === '' ||
        typeof header['Value'] !== 'string'
      ) {
        return { ok: false, code: 300, message: "Invalid 'Headers' value: expected [{ Name, Value }]." };
      }
      headers[header['Name']] = header['Value'];
    }
  }
  const tags: Record<string, string> = {};
  if (present(input['Metadata'])) {
    const raw = input['Metadata'];
    if (!isObject(raw)) return { ok: false, code: 300, message: "Invalid 'Metadata' value: expected an object." };
    if (Object.keys(raw).length > METADATA_FIELDS_MAX) {
      return { ok: false, code: 300, message: `Metadata can have at most ${METADATA_FIELDS_MAX} fields.` };
    }
    for (const [key, value] of Object.entries(raw)) {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        return { ok: false, code: 300, message: `Invalid 'Metadata' value for '${key}'.` };
      }
      if (key.length > METADATA_NAME_MAX || String(value).length > METADATA_VALUE_MAX) {
        return {
          ok: false,
          code: 300,
          message:
            `Metadata field names are at most ${METADATA_NAME_MAX} characters and values at most ${METADATA_VALUE_MAX} ('${key}').`,
        };
      }
      tags[key] = String(value);
    }
  }
  const tag = input['Tag'];
  if (present(tag) && (typeof tag !== 'string' || tag.length > TAG_MAX)) {
    return { ok: false, code: 300, message: `Invalid 'Tag' value: a text of at most ${TAG_MAX} characters.` };
  }
  const stream = input['MessageStream'] ?? 'outbound';
  if (typeof stream !== 'string' || !POSTMARK_STREAMS.includes(stream)) {
    return { ok: false, code: 1235, message: "The 'MessageStream' provided does not exist on this server." };
  }
  // Checked last: a message that is both malformed and suppressed reports the malformation, the caller's bug, first.
  if (inactive.length > 0) return { ok: false, code: 406, message: inactiveMessage(inactive) };
  const to = typeof input['To'] === 'string' ? input['To'] : '';
  return {
    ok: true,
    to,
    email: {
      provider: 'postmark',
      from,
      to: splitAddressList(to),
      subject: typeof subject === 'string' ? subject : '',
      ...(hasHtml ? { html: html as string } : {}),
      ...(hasText ? { text: text as string } : {}),
      ...(typeof replyTo === 'string' && replyTo.trim() !== '' ? { replyTo: replyTo.trim() } : {}),
      headers,
      tags,
      ...(typeof tag === 'string' && tag !== '' ? { tag } : {}),
      messageStream: stream,
    },
  };
}

function send(state: ProviderState, input: unknown, idempotencyKey: string | undefined): SendResult {
  const checked = checkMessage(state, input);
  if (!checked.ok) return { ErrorCode: checked.code, Message: checked.message };
  const id = randomUUID();
  const now = new Date().toISOString();
  state.recordEmail({
    ...checked.email,
    messageId: id,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    receivedAt: now,
  });
  return { To: checked.to, SubmittedAt: now, MessageID: id, ErrorCode: 0, Message: 'OK' };
}

async function decide(
  state: ProviderState,
  request: SendRequest,
  parsed: ReturnType<typeof parseJson>,
  serverToken: string | undefined,
  idempotencyKey: string | undefined,
): Promise<HttpAnswer> {
  const token = headerValue(request.headers, 'x-postmark-server-token')?.trim() ?? '';
  if (token === '') {
    return error(
      401,
      10,
      'No Account or Server API tokens were supplied in the HTTP headers. Please add a header for either X-Postmark-Server-Token or X-Postmark-Account-Token.',
    );
  }
  if (serverToken !== undefined && token !== serverToken) {
    return error(401, 10, 'Request does not contain a valid Server token.');
  }
  const rate = state.checkRateLimit();
  // Postmark publishes no rate-limit headers, so only the 429 itself is simulated.
  if (rate !== null && !rate.allowed) {
    return error(
      429,
      postmarkDefaultErrorCode(429),
      'Rate limit exceeded: too many requests. Slow down and retry later.',
    );
  }
  const fault = state.takeFault();
  if (fault) return faultAnswer(fault);
  if (!parsed.ok) return error(422, 402, 'Received invalid JSON input.');
  await request.delay();
  if (request.path === '/email') {
    const result = send(state, parsed.value, idempotencyKey);
    // A single send reports a failed message as HTTP 422 with the same body a batch element would have.
    return { status: result.ErrorCode === 0 ? 200 : 422, body: result };
  }
  if (!Array.isArray(parsed.value)) {
    return error(422, 402, 'Received invalid JSON input: the batch must be a JSON array of messages.');
  }
  if (parsed.value.length > POSTMARK_MAX_BATCH) {
    return error(422, 410, `Too many batch messages: the limit is ${POSTMARK_MAX_BATCH} messages per request.`);
  }
  // Batch: HTTP 200 whatever happens to each message; every element carries its own ErrorCode.
  return { status: 200, body: parsed.value.map((message) => send(state, message, idempotencyKey)) };
}

/** MAX_SEARCH_COUNT and MAX_SEARCH_WINDOW are Postmark's paging limits of the outbound message search. */
const MAX_SEARCH_COUNT = 500;
const MAX_SEARCH_WINDOW = 10_000;

/**
 * searchOutbound answers `GET /messages/outbound` like Postmark: `count` (1–500) and `offset`
 * required, filters `recipient`, `tag`, `messagestream` and `metadata_<key>=<value>`; every
 * accepted message is reported `Sent`. Accepted messages are searchable at once, or after the
 * state's search delay (`setSearchDelay`: Postmark indexes within seconds).
 */
function searchOutbound(state: ProviderState, query: URLSearchParams): HttpAnswer {
  const count = Number(query.get('count'));
  const offset = Number(query.get('offset'));
  if (!Number.isInteger(count) || count < 1 || count > MAX_SEARCH_COUNT) {
    return error(422, 300, `The 'count' parameter is required and must be between 1 and ${MAX_SEARCH_COUNT}.`);
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + count > MAX_SEARCH_WINDOW) {
    return error(422, 300, `The 'offset' parameter is required; count + offset must be at most ${MAX_SEARCH_WINDOW}.`);
  }
  // Parameter names in any case, as Postmark reads them (the SDK sends `messageStream`).
  const byName = new Map([...query.entries()].map(([key, value]) => [key.toLowerCase(), value]));
  const recipient = byName.get('recipient')?.toLowerCase();
  const tag = byName.get('tag') ?? null;
  const stream = byName.get('messagestream') ?? null;
  const metadata = [...query.entries()].filter(([key]) => key.toLowerCase().startsWith('metadata_'))
    .map(([key, value]) => [key.slice('metadata_'.length), value] as const);
  const found = state.findEmails((email) =>
    (recipient === undefined || email.to.some((to) => to.toLowerCase().includes(recipient))) &&
    (tag === null || email.tag === tag) &&
    (stream === null || email.messageStream === stream) &&
    metadata.every(([key, value]) => email.tags[key] === value)
  );
  return {
    status: 200,
    body: {
      TotalCount: found.length,
      Messages: found.slice(offset, offset + count).map((email) => ({
        Tag: email.tag ?? '',
        MessageID: email.messageId,
        MessageStream: email.messageStream,
        To: email.to.map((to) => ({ Email: to, Name: null })),
        Cc: [],
        Bcc: [],
        Recipients: email.to,
        ReceivedAt: email.receivedAt,
        From: email.from,
        Subject: email.subject,
        Attachments: [],
        Status: 'Sent',
        TrackOpens: false,
        TrackLinks: 'None',
        Metadata: email.tags,
        Sandboxed: false,
      })),
    },
  };
}

/** createPostmarkHandler builds the Postmark endpoints over one provider state; `serverToken`, when set, is the only token accepted. */
export function createPostmarkHandler(state: ProviderState, serverToken?: string): ProviderHandler {
  return {
    isSendPath: (path) => path === '/email' || path === '/email/batch',
    handleRead({ path, query, headers }) {
      if (path !== '/messages/outbound') return undefined;
      const token = headerValue(headers, 'x-postmark-server-token')?.trim() ?? '';
      if (token === '' || (serverToken !== undefined && token !== serverToken)) {
        return error(401, 10, 'Request does not contain a valid Server token.');
      }
      return searchOutbound(state, query);
    },
    errorAnswer: (status, message) => error(status, postmarkDefaultErrorCode(status), message),
    async handleSend(request) {
      const parsed = parseJson(request.body);
      let messages = 0;
      if (parsed.ok) {
        if (request.path === '/email/batch') messages = Array.isArray(parsed.value) ? parsed.value.length : 0;
        else messages = isObject(parsed.value) ? 1 : 0;
      }
      // Postmark has no idempotency; a key sent anyway is only recorded, so a test can see a caller sent one.
      const idempotencyKey = headerValue(request.headers, 'idempotency-key');
      const answer = await decide(state, request, parsed, serverToken, idempotencyKey);
      return { answer, messages, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) };
    },
  };
}
