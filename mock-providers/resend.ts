/**
 * The Resend half of the mock: `POST /emails` and `POST /emails/batch` answered the way the
 * real API answers them, so the official SDK (resend@6) cannot tell the difference.
 * The SDK resolves `{ data, error, headers }` and passes the error JSON through as is,
 * hence every error body carries `statusCode`, `name` and `message`.
 */

import { createHash, randomUUID } from 'node:crypto';
import { parseMailbox } from './addresses.ts';
import { headerValue, parseJson, stableStringify } from './http.ts';
import type { HttpAnswer, ProviderHandler, SendRequest } from './http.ts';
import type { Fault, ReceivedEmail } from './types.ts';
import type { ProviderState } from './state.ts';

/** RESEND_MAX_BATCH is the most emails one `/emails/batch` call may carry. */
export const RESEND_MAX_BATCH = 100;

/** RESEND_MAX_RECIPIENTS is the most addresses one email's `to` may carry. */
export const RESEND_MAX_RECIPIENTS = 50;

const ADDRESS_FORMAT =
  'The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.';
const TAG_PART = /^[A-Za-z0-9_-]{1,256}$/;

type Accepted = Omit<ReceivedEmail, 'messageId' | 'receivedAt' | 'idempotencyKey'>;
type Checked = { ok: true; email: Accepted } | { ok: false; name: string; message: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** resendErrorName picks the error name real Resend uses for a status when nothing more specific applies. */
export function resendErrorName(status: number): string {
  switch (status) {
    case 400:
    case 422:
      return 'validation_error';
    case 401:
      return 'missing_api_key';
    case 403:
      return 'invalid_api_key';
    case 404:
      return 'not_found';
    case 405:
      return 'method_not_allowed';
    case 409:
      return 'concurrent_idempotent_requests';
    case 429:
      return 'rate_limit_exceeded';
    case 451:
      return 'security_error';
    default:
      return status >= 500 ? 'internal_server_error' : 'application_error';
  }
}

function error(status: number, name: string, message: string, headers?: Record<string, string>): HttpAnswer {
  return { status, body: { statusCode: status, name, message }, ...(headers ? { headers } : {}) };
}

function faultAnswer(fault: Fault, headers: Record<string, string>): HttpAnswer {
  const name = fault.errorName ?? resendErrorName(fault.status);
  const all = { ...headers };
  if (fault.retryAfterSeconds !== undefined) all['retry-after'] = String(fault.retryAfterSeconds);
  return error(fault.status, name, fault.message ?? `Injected fault: ${name}.`, all);
}

/** addressList accepts a string or an array of strings (Resend's `to`, `cc`, `bcc`, `reply_to`). */
function addressList(value: unknown): string[] | null {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value as string[];
  return null;
}

function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function checkAddresses(state: ProviderState, field: string, list: string[]): Checked | null {
  for (const address of list) {
    const bare = parseMailbox(address);
    // A registered 'invalid' address is what Resend would refuse as malformed; 'inactive' ones pass (suppression is reported by webhook).
    if (bare === null || state.addressStatus(bare) === 'invalid') {
      return {
        ok: false,
        name: 'validation_error',
        message: `Invalid \`${field}\` field: '${address}'. ${ADDRESS_FORMAT}`,
      };
    }
  }
  return null;
}

function checkEmail(state: ProviderState, input: unknown, inBatch: boolean): Checked {
  if (!isObject(input)) return { ok: false, name: 'validation_error', message: 'Each email must be a JSON object.' };
  const { from, to, subject, html, text } = input;
  if (typeof from !== 'string' || from.trim() === '') {
    return { ok: false, name: 'missing_required_field', message: 'Missing `from` field.' };
  }
  if (parseMailbox(from) === null) {
    return { ok: false, name: 'invalid_from_address', message: `Invalid \`from\` field. ${ADDRESS_FORMAT}` };
  }
  const recipients = addressList(to);
  if (!present(to) || (recipients !== null && recipients.length === 0)) {
    return { ok: false, name: 'missing_required_field', message: 'Missing `to` field.' };
  }
  if (recipients === null) {
    return { ok: false, name: 'validation_error', message: '`to` must be a string or an array of strings.' };
  }
  if (recipients.length > RESEND_MAX_RECIPIENTS) {
    return {
      ok: false,
      name: 'validation_error',
      message: `Too many recipients in \`to\`: the maximum is ${RESEND_MAX_RECIPIENTS}.`,
    };
  }
  const badTo = checkAddresses(state, 'to', recipients);
  if (badTo) return badTo;
  for (const field of ['cc', 'bcc'] as const) {
    if (!present(input[field])) continue;
    const list = addressList(input[field]);
    if (list === null) {
      return { ok: false, name: 'validation_error', message: `\`${field}\` must be a string or an array of strings.` };
    }
    const bad = checkAddresses(state, field, list);
    if (bad) return bad;
  }
  if (typeof subject !== 'string' || subject === '') {
    return { ok: false, name: 'missing_required_field', message: 'Missing `subject` field.' };
  }
  const hasHtml = typeof html === 'string' && html !== '';
  const hasText = typeof text === 'string' && text !== '';
  if ((present(html) && typeof html !== 'string') || (present(text) && typeof text !== 'string')) {
    return { ok: false, name: 'validation_error', message: '`html` and `text` must be strings.' };
  }
  if (!hasHtml && !hasText && !isObject(input['template'])) {
    return { ok: false, name: 'missing_required_field', message: 'Missing `html` or `text` field.' };
  }
  if (inBatch && present(input['attachments'])) {
    return { ok: false, name: 'validation_error', message: 'Attachments are not supported in batch emails.' };
  }
  if (inBatch && present(input['scheduled_at'])) {
    return { ok: false, name: 'validation_error', message: '`scheduled_at` is not supported in batch emails.' };
  }
  let replyTo: string | undefined;
  if (present(input['reply_to'])) {
    const list = addressList(input['reply_to']);
    if (list === null) {
      return { ok: false, name: 'validation_error', message: '`reply_to` must be a string or an array of strings.' };
    }
    const bad = checkAddresses(state, 'reply_to', list);
    if (bad) return bad;
    if (list.length > 0) replyTo = list.join(', ');
  }
  const headers: Record<string, string> = {};
  if (present(input['headers'])) {
    const raw = input['headers'];
    if (!isObject(raw) || !Object.values(raw).every((value) => typeof value === 'string')) {
      return { ok: false, name: 'validation_error', message: '`headers` must be an object of string values.' };
    }
    Object.assign(headers, raw);
  }
  const tags: Record<string, string> = {};
  if (present(input['tags'])) {
    const raw = input['tags'];
    if (!Array.isArray(raw)) {
      return { ok: false, name: 'validation_error', message: '`tags` must be an array of `{ name, value }`.' };
    }
    for (const tag of raw) {
      if (
        !isObject(tag) || typeof tag['name'] !== 'string' || !TAG_PART.test(tag['name']) ||
        (present(tag['value']) && (typeof tag['value'] !== 'string' || !TAG_PART.test(tag['value'])))
      ) {
        return {
          ok: false,
          name: 'validation_error',
          message: 'Tags should only contain ASCII letters (a–z, A–Z), numbers (0–9), underscores (_), or dashes (-).',
        };
      }
      tags[tag['name']] = typeof tag['value'] === 'string' ? tag['value'] : '';
    }
  }
  return {
    ok: true,
    email: {
      provider: 'resend',
      from,
      to: [...recipients],
      subject,
      ...(hasHtml ? { html: html as string } : {}),
      ...(hasText ? { text: text as string } : {}),
      ...(replyTo === undefined ? {} : { replyTo }),
      headers,
      tags,
    },
  };
}

function accept(state: ProviderState, email: Accepted, idempotencyKey: string | undefined): string {
  const id = randomUUID();
  state.recordEmail({
    ...email,
    messageId: id,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    receivedAt: new Date().toISOString(),
  });
  return id;
}

function sendOne(state: ProviderState, input: unknown, idempotencyKey: string | undefined): HttpAnswer {
  const checked = checkEmail(state, input, false);
  if (!checked.ok) return error(422, checked.name, checked.message);
  return { status: 200, body: { id: accept(state, checked.email, idempotencyKey) } };
}

function sendBatch(
  state: ProviderState,
  input: unknown,
  mode: 'strict' | 'permissive',
  idempotencyKey: string | undefined,
): HttpAnswer {
  if (!Array.isArray(input)) return error(422, 'validation_error', 'The batch must be a JSON array of emails.');
  if (input.length === 0) return error(422, 'validation_error', 'The batch must contain at least 1 email.');
  if (input.length > RESEND_MAX_BATCH) {
    return error(422, 'validation_error', `Too many emails in the batch: the maximum is ${RESEND_MAX_BATCH}.`);
  }
  const checked = input.map((item) => checkEmail(state, item, true));
  if (mode === 'strict') {
    const index = checked.findIndex((result) => !result.ok);
    const failed = checked[index];
    // Strict: one bad email rejects the whole batch and nothing is sent.
    if (failed && !failed.ok) return error(422, failed.name, `emails[${index}]: ${failed.message}`);
  }
  const data: { id: string }[] = [];
  const errors: { index: number; message: string }[] = [];
  checked.forEach((result, index) => {
    if (result.ok) data.push({ id: accept(state, result.email, idempotencyKey) });
    else errors.push({ index, message: result.message });
  });
  // Permissive: `data` lists only the emails sent, in request order; `errors` names the rest by index.
  return { status: 200, body: mode === 'permissive' ? { data, errors } : { data } };
}

async function decide(
  state: ProviderState,
  request: SendRequest,
  parsed: ReturnType<typeof parseJson>,
  idempotencyKey: string | undefined,
): Promise<HttpAnswer> {
  const authorization = headerValue(request.headers, 'authorization') ?? '';
  if (!/^Bearer\s+\S+\s*$/i.test(authorization)) {
    return error(
      401,
      'missing_api_key',
      'Missing API key in the authorization header. Include the following header in the request: Authorization: Bearer YOUR_API_KEY',
    );
  }
  if (idempotencyKey !== undefined && (idempotencyKey.length < 1 || idempotencyKey.length > 256)) {
    return error(400, 'invalid_idempotency_key', 'The key must be between 1-256 chars.');
  }
  const rate = state.checkRateLimit();
  const rateHeaders: Record<string, string> = rate === null ? {} : {
    'ratelimit-limit': String(rate.limit),
    'ratelimit-remaining': String(rate.remaining),
    'ratelimit-reset': String(rate.resetSeconds),
  };
  if (rate !== null && !rate.allowed) {
    return error(
      429,
      'rate_limit_exceeded',
      `Too many requests. You can only make ${rate.limit} requests per second. See rate limit response headers for more information.`,
      { ...rateHeaders, 'retry-after': String(rate.resetSeconds) },
    );
  }
  const fault = state.takeFault();
  if (fault) return faultAnswer(fault, rateHeaders);
  if (!parsed.ok) return error(400, 'validation_error', 'The request body is not valid JSON.', rateHeaders);
  const batch = request.path === '/emails/batch';
  let mode: 'strict' | 'permissive' = 'strict';
  if (batch) {
    const header = (headerValue(request.headers, 'x-batch-validation') ?? 'strict').trim().toLowerCase();
    if (header !== 'strict' && header !== 'permissive') {
      return error(422, 'validation_error', "`x-batch-validation` must be 'strict' or 'permissive'.", rateHeaders);
    }
    mode = header;
  }
  if (idempotencyKey !== undefined) {
    const fingerprint = createHash('sha256').update(`${request.path}\n${mode}\n${stableStringify(parsed.value)}`)
      .digest('hex');
    const lookup = state.beginIdempotent(idempotencyKey, fingerprint);
    switch (lookup.kind) {
      case 'replay':
        return { ...lookup.response, headers: rateHeaders };
      case 'mismatch':
        return error(
          409,
          'invalid_idempotent_request',
          'Same idempotency key used with a different request payload. Change your idempotency key or payload.',
          rateHeaders,
        );
      case 'in-flight':
        return error(
          409,
          'concurrent_idempotent_requests',
          'Same idempotency key used while original request is still in progress. Try the request again later.',
          rateHeaders,
        );
      case 'new':
        break;
    }
  }
  try {
    // The key stays in flight during the latency, which is what makes concurrent duplicates observable.
    await request.delay();
    const answer = batch
      ? sendBatch(state, parsed.value, mode, idempotencyKey)
      : sendOne(state, parsed.value, idempotencyKey);
    if (idempotencyKey !== undefined) {
      state.completeIdempotent(idempotencyKey, { status: answer.status, body: answer.body });
    }
    return { ...answer, headers: rateHeaders };
  } finally {
    if (idempotencyKey !== undefined) state.abandonIdempotent(idempotencyKey);
  }
}

/** createResendHandler builds the Resend endpoints over one provider state. */
export function createResendHandler(state: ProviderState): ProviderHandler {
  return {
    isSendPath: (path) => path === '/emails' || path === '/emails/batch',
    // Resend documents 40 MB per email; the mock takes that as its request limit too.
    maxBodyBytes: 40 * 1024 * 1024,
    errorAnswer: (status, message) => error(status, resendErrorName(status), message),
    async handleSend(request) {
      const parsed = parseJson(request.body);
      const batch = request.path === '/emails/batch';
      let messages = 0;
      if (parsed.ok) {
        messages = batch ? (Array.isArray(parsed.value) ? parsed.value.length : 0) : isObject(parsed.value) ? 1 : 0;
      }
      const idempotencyKey = headerValue(request.headers, 'idempotency-key');
      const answer = await decide(state, request, parsed, idempotencyKey);
      return { answer, messages, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) };
    },
  };
}
