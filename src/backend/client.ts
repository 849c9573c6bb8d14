/**
 * BackendClient: the HTTP API of the Authentik backend that this service calls
 * (contracts/http/backend.openapi.yaml): lifecycle callbacks, per-recipient results,
 * and recipient pages of backend lists. Every request carries the bearer token.
 */
import { context, propagation } from '@opentelemetry/api';
import { SIGNATURE_HEADER, signatureHeader } from '../../contracts/http/signature.ts';
import type { NewsletterEventsEvent, RecipientPage } from '../../contracts/http/backend.ts';
import {
  type BackendEvent,
  type BackendRecipientPage,
  MAX_RECIPIENT_ID,
  type Recipient,
  type ResultsEvent,
} from '../domain/types.ts';
import { normalizeAddress } from '../domain/suppression.ts';
import { maskedError } from '../domain/addresses.ts';
import { withDeadline } from '../deadline.ts';
import { readCapped } from '../read-capped.ts';

/** BackendCallbackError is thrown when the backend did not accept a request; retryable says whether trying again can help. */
export class BackendCallbackError extends Error {
  readonly status: number | null;
  readonly retryable: boolean;
  constructor(message: string, status: number | null, retryable: boolean) {
    super(message);
    this.name = 'BackendCallbackError';
    this.status = status;
    this.retryable = retryable;
  }
}

/** RecipientPageRequest names one page of a backend list. */
export interface RecipientPageRequest {
  newsletterId: string;
  listId: string;
  /** cursor is '' for the first page. */
  cursor: string;
  limit: number;
}

/** CallOptions bound one call: its own timeout, and the caller's cancellation (an abandoned activity stops waiting). */
export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** BackendClient is every call this service makes to the backend. */
export interface BackendClient {
  /** enabled is false when BACKEND_URL is unset: callbacks are then dropped and backend lists refused. */
  readonly enabled: boolean;
  postStatus(event: BackendEvent, options?: CallOptions): Promise<void>;
  postResults(event: ResultsEvent, options?: CallOptions): Promise<void>;
  postEvents(event: NewsletterEventsEvent, options?: CallOptions): Promise<void>;
  fetchRecipientPage(request: RecipientPageRequest): Promise<BackendRecipientPage>;
}

/** BackendPageError is thrown when a recipient page is malformed: its message names the field. */
export class BackendPageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendPageError';
  }
}

/** MAX_REDIRECTS a page read follows within BACKEND_URL's origin (fetch's own limit is 20). */
const MAX_REDIRECTS = 5;
const isRedirect = (status: number) => status >= 300 && status < 400;
/** redirectTarget is where a redirect points (its Location read against the URL that answered), if it says. */
const redirectTarget = (response: Response, requested: string): URL | null => {
  const location = response.headers.get('location');
  return location ? URL.parse(location, response.url || requested) : null;
};

/**
 * createBackendClient builds the client; with no url it is disabled. With signing secrets,
 * every callback carries an `X-Signature` the backend checks with contracts/http/signature.ts.
 */
export function createBackendClient(
  options: {
    url?: string;
    token?: string;
    timeoutMs?: number;
    signingSecrets?: readonly string[];
    /** maxPageBytes bounds a recipient page's body (MAX_PAGE_BYTES; smaller in tests). */
    maxPageBytes?: number;
  },
): BackendClient {
  const {
    url,
    token,
    timeoutMs: defaultTimeoutMs = 10_000,
    signingSecrets = [],
    maxPageBytes = MAX_PAGE_BYTES,
  } = options;
  const headers = {
    'content-type': 'application/json',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  };

  /** exchange makes one call under signal, answering a 2xx response whose body is the caller's to read. */
  const exchange = async (path: string, init: RequestInit, signal: AbortSignal): Promise<Response> => {
    let response: Response;
    try {
      const body = typeof init.body === 'string' ? init.body : undefined;
      const signed: Record<string, string> = body !== undefined && signingSecrets.length > 0
        ? { ...headers, [SIGNATURE_HEADER.toLowerCase()]: signatureHeader(body, signingSecrets) }
        : { ...headers };
      // The trace context of the call (W3C traceparent): the backend can join the newsletter's trace.
      propagation.inject(context.active(), signed);
      // A callback's is not followed: a POST redirected becomes a GET, whose 200 would count a callback the
      // backend never had. A page read (a GET) follows one within BACKEND_URL's origin; to another (http to
      // https, another host) fetch would drop the token, and the 401 would read as the list refused for good.
      response = await fetch(`${url}${path}`, { ...init, headers: signed, signal, redirect: 'manual' });
      for (let hops = 0; init.method === 'GET' && isRedirect(response.status) && hops < MAX_REDIRECTS; hops++) {
        const target = redirectTarget(response, `${url}${path}`);
        if (!target || target.origin !== new URL(url!).origin) break;
        await response.body?.cancel();
        response = await fetch(target, { ...init, headers: signed, signal, redirect: 'manual' });
      }
    } catch (err) {
      // fetch says only "fetch failed"; its cause says why (ECONNREFUSED, ENOTFOUND, a certificate).
      const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message;
      throw new BackendCallbackError(
        `backend unreachable: ${(err as Error).message}${why ? ` (${why})` : ''}`,
        null,
        true,
      );
    }
    if (response.ok) return response;
    await response.body?.cancel();
    if (isRedirect(response.status)) {
      // BACKEND_URL points at the wrong place (http for https, a moved host): retried until a person fixes it.
      // Where it points, without credentials or a query that could carry a token.
      const target = redirectTarget(response, `${url}${path}`);
      const to = target ? `${target.protocol}//${target.host}${target.pathname}` : 'nowhere said';
      throw new BackendCallbackError(
        `backend answered ${response.status} to ${to}: check BACKEND_URL`,
        response.status,
        true,
      );
    }
    // 408, 429 and 5xx may pass, and so may 401/403: a token being rotated or a backend
    // misconfigured for a while is fixed by a person, and no event may be lost meanwhile.
    // Other 4xx (the event itself is refused) will not change on retry.
    const retryable = [401, 403, 408, 429].includes(response.status) || response.status >= 500;
    throw new BackendCallbackError(`backend answered ${response.status}`, response.status, retryable);
  };
  /** request is one call and the reading of its answer, both within the call's timeout. */
  const request = <T>(
    path: string,
    init: RequestInit,
    options: CallOptions,
    read: (response: Response) => Promise<T>,
  ) =>
    withDeadline(
      options.timeoutMs ?? defaultTimeoutMs,
      options.signal,
      async (signal) => read(await exchange(path, init, signal)),
    );
  const base = (newsletterId: string) => `/api/internal/newsletters/${encodeURIComponent(newsletterId)}`;
  const post = async (path: string, body: unknown, options: CallOptions = {}) => {
    if (!url) return;
    await request(path, { method: 'POST', body: JSON.stringify(body) }, options, async (response) => {
      await response.body?.cancel();
    });
  };

  return {
    enabled: Boolean(url),
    postStatus: (event, opts) => post(`${base(event.newsletter_id)}/status`, event, opts),
    postResults: (event, opts) => post(`${base(event.newsletter_id)}/results`, event, opts),
    postEvents: (event, opts) => post(`${base(event.newsletter_id)}/events`, event, opts),
    async fetchRecipientPage({ newsletterId, listId, cursor, limit }): Promise<BackendRecipientPage> {
      if (!url) throw new BackendCallbackError('BACKEND_URL is not set: backend lists cannot be read', null, false);
      const query = new URLSearchParams({ list_id: listId, limit: String(limit) });
      if (cursor) query.set('cursor', cursor);
      const body = await request(
        `${base(newsletterId)}/recipients?${query}`,
        { method: 'GET' },
        {},
        (response) => pageBody(response, maxPageBytes),
      );
      return parseRecipientPage(body, limit);
    },
  };
}

/**
 * MAX_PAGE_BYTES bounds a recipient page's body: a backend gone wrong (a stream that never ends, a
 * wrong endpoint) would otherwise be read whole into the worker's memory. Large variables are a
 * page's right (ten recipients of 4.5 MB each, sent as two requests under Resend's 40 MB:
 * scale.test.ts), so the bound is far above any page sent in practice.
 */
export const MAX_PAGE_BYTES = 128 * 1024 * 1024;

/**
 * pageBody reads a page answer's JSON, at most maxBytes of it: a larger or non-JSON body is a
 * malformed page (BackendPageError: retried, the backend may mend it).
 */
async function pageBody(response: Response, maxBytes: number): Promise<unknown> {
  const tooLarge = (declared?: number) =>
    new BackendPageError(
      `recipient page: body ${declared === undefined ? '' : `of ${declared} bytes `}over the ${maxBytes}-byte limit`,
    );
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw tooLarge(declared);
  }
  let bytes;
  try {
    bytes = await readCapped(response.body ?? [], maxBytes, () => tooLarge());
  } catch (err) {
    if (err instanceof BackendPageError) throw err;
    // The connection dropped or the call's time ran out mid-body: the backend, not the page (retried).
    throw new BackendCallbackError(`backend unreachable: page body cut off (${maskedError(err).message})`, null, true);
  }
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BackendPageError(
      `recipient page: not JSON (${bytes.length} bytes, ${response.headers.get('content-type') ?? 'no content type'})`,
    );
  }
}

/** parseRecipientPage checks a page answer (listRecipients) and converts it, or throws BackendPageError naming the field. */
export function parseRecipientPage(body: unknown, limit: number): BackendRecipientPage {
  const page = body as Partial<Record<keyof RecipientPage, unknown>>;
  if (!page || typeof page !== 'object' || !Array.isArray(page.recipients)) {
    throw new BackendPageError('recipient page: recipients must be an array');
  }
  if (page.recipients.length > limit) {
    throw new BackendPageError(`recipient page: ${page.recipients.length} recipients, more than limit ${limit}`);
  }
  if (page.next_cursor !== undefined && page.next_cursor !== null && typeof page.next_cursor !== 'string') {
    throw new BackendPageError('recipient page: next_cursor must be a string');
  }
  const recipients = page.recipients.map((raw, i): Recipient => {
    const r = raw as Record<string, unknown>;
    if (!r || typeof r.email !== 'string' || !r.email.trim()) {
      throw new BackendPageError(`recipient page: recipients[${i}].email is required`);
    }
    const variables = r.variables ?? {};
    if (typeof variables !== 'object' || Array.isArray(variables)) {
      throw new BackendPageError(`recipient page: recipients[${i}].variables must be an object of strings`);
    }
    if (r.recipient_id !== undefined && r.recipient_id !== null && typeof r.recipient_id !== 'string') {
      throw new BackendPageError(`recipient page: recipients[${i}].recipient_id: must be a string`);
    }
    if (typeof r.recipient_id === 'string' && r.recipient_id.length > MAX_RECIPIENT_ID) {
      throw new BackendPageError(
        `recipient page: recipients[${i}].recipient_id: at most ${MAX_RECIPIENT_ID} characters`,
      );
    }
    for (const [key, value] of Object.entries(variables)) {
      // A false or a number would render as a non-empty string, which a {{#section}} takes as true.
      if (typeof value !== 'string') {
        throw new BackendPageError(
          `recipient page: recipients[${i}].variables.${key.slice(0, 64)}: must be a string (got ${
            value === null ? 'null' : typeof value
          })`,
        );
      }
    }
    return {
      email: r.email.trim(),
      name: typeof r.name === 'string' ? r.name : '',
      recipientId: typeof r.recipient_id === 'string' ? r.recipient_id : '',
      variables: variables as Record<string, string>,
    };
  });
  // The same address twice on a page is mailed once (the first), as an inline list refuses
  // duplicates; the same recipient id twice too: the parts of a page that failed over are named
  // by it (send-batch.ts memberKey), so a second one would be taken for the first, never sent.
  const seen = new Set<string>();
  const ids = new Set<string>();
  const distinct = recipients.filter((r) => {
    const address = normalizeAddress(r.email);
    if (seen.has(address) || (r.recipientId && ids.has(r.recipientId))) return false;
    seen.add(address);
    if (r.recipientId) ids.add(r.recipientId);
    return true;
  });
  return { recipients: distinct, ...(page.next_cursor ? { nextCursor: page.next_cursor as string } : {}) };
}
