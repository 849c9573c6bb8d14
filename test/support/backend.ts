/**
 * A stand-in for the Authentik backend (contracts/http/backend.openapi.yaml): records
 * lifecycle callbacks (`/status`) and per-recipient results (`/results`), serves
 * recipient lists page by page (`/recipients`, cursor = offset), and can be told to fail
 * or to answer slowly, for tests of callback delivery and of paged newsletters.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BackendEvent, Recipient, ResultsEvent } from '../../src/domain/types.ts';
import type { NewsletterEventsEvent } from '../../contracts/http/backend.ts';
import { contractViolations } from './openapi.ts';

/** ReceivedCallback is one lifecycle callback the stand-in accepted. */
export interface ReceivedCallback {
  path: string;
  authorization: string | undefined;
  /** signature is the X-Signature header, and body the raw body it signs. */
  signature: string | undefined;
  /** traceparent is the W3C trace context the request carried. */
  traceparent: string | undefined;
  body: string;
  event: BackendEvent;
}

/** ReceivedResults is one results callback the stand-in accepted. */
export interface ReceivedResults {
  authorization: string | undefined;
  signature: string | undefined;
  /** traceparent is the W3C trace context the request carried. */
  traceparent: string | undefined;
  body: string;
  event: ResultsEvent;
}

/** ReceivedEvents is one provider-events callback the stand-in accepted. */
export interface ReceivedEvents {
  authorization: string | undefined;
  signature: string | undefined;
  /** traceparent is the W3C trace context the request carried. */
  traceparent: string | undefined;
  body: string;
  event: NewsletterEventsEvent;
}

/** RecipientList is a list served by cursor: an array, or a generator for lists too big to hold. */
export type RecipientList = Recipient[] | { size: number; at(index: number): Recipient };

/** BackendMock is a running backend stand-in. */
export interface BackendMock {
  url: string;
  /** received holds the lifecycle callbacks, in arrival order. */
  received: ReceivedCallback[];
  /** results holds the results callbacks, in arrival order (a repeated event_id appears again). */
  results: ReceivedResults[];
  /** events holds the provider-events callbacks, in arrival order (a retried batch appears again). */
  events: ReceivedEvents[];
  /** violations lists every way a body the stand-in received broke the contract's schema (none expected). */
  violations: string[];
  /** pageRequests counts the recipient page requests answered, per list. */
  pageRequests: Map<string, number>;
  /** failNext answers the next n callbacks (status and results) with status. */
  failNext(n: number, status: number): void;
  /** failCallbacksFor answers every callback (status and results) with status for the next ms. */
  failCallbacksFor(ms: number, status: number): void;
  /** callbackRefusals counts the callbacks answered with an injected failure. */
  readonly callbackRefusals: number;
  /** failPages answers the next n recipient page requests with status. */
  failPages(n: number, status: number): void;
  /** latency delays every answer by ms. */
  latency(ms: number): void;
  setList(listId: string, list: RecipientList): void;
  /** removeFromList takes a recipient off an array list (an unsubscribe): later pages shift. */
  removeFromList(listId: string, email: string): void;
  eventsFor(newsletterId: string): BackendEvent[];
  resultsFor(newsletterId: string): ResultsEvent[];
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** startBackendMock listens on 127.0.0.1 with an OS-chosen port. */
export async function startBackendMock(): Promise<BackendMock> {
  const received: ReceivedCallback[] = [];
  const results: ReceivedResults[] = [];
  const events: ReceivedEvents[] = [];
  const violations: string[] = [];
  const lists = new Map<string, RecipientList>();
  const pageRequests = new Map<string, number>();
  const failures = { callbacks: 0, pages: 0, callbackStatus: 503, pageStatus: 503, callbacksUntil: 0, refused: 0 };
  let delayMs = 0;

  const page = (listId: string, cursor: string, limit: number) => {
    const list = lists.get(listId);
    if (!list) return undefined;
    const size = Array.isArray(list) ? list.length : list.size;
    const offset = cursor ? Number(cursor) : 0;
    const end = Math.min(size, offset + limit);
    const recipients = Array.from({ length: Math.max(0, end - offset) }, (_, i) => {
      const r = Array.isArray(list) ? list[offset + i]! : list.at(offset + i);
      return { email: r.email, name: r.name, recipient_id: r.recipientId, variables: r.variables };
    });
    return { recipients, ...(end < size ? { next_cursor: String(end) } : {}) };
  };

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (delayMs > 0) await sleep(delayMs);
    const url = new URL(req.url ?? '/', 'http://backend');
    if (req.method === 'GET' && url.pathname.endsWith('/recipients')) {
      if (failures.pages > 0) {
        failures.pages -= 1;
        res.writeHead(failures.pageStatus).end();
        return;
      }
      const listId = url.searchParams.get('list_id') ?? '';
      const body = page(listId, url.searchParams.get('cursor') ?? '', Number(url.searchParams.get('limit') ?? 100));
      pageRequests.set(listId, (pageRequests.get(listId) ?? 0) + 1);
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    if (failures.callbacks > 0 || Date.now() < failures.callbacksUntil) {
      if (failures.callbacks > 0) failures.callbacks -= 1;
      failures.refused += 1;
      res.writeHead(failures.callbackStatus).end();
      return;
    }
    const raw = Buffer.concat(chunks).toString('utf8');
    const body = JSON.parse(raw);
    const signature = req.headers['x-signature'] as string | undefined;
    const traceparent = req.headers.traceparent as string | undefined;
    const seen = { authorization: req.headers.authorization, signature, traceparent, body: raw };
    // What the service sends, checked against the contract's schemas (contracts/http/backend.openapi.yaml).
    const schema = url.pathname.endsWith('/results')
      ? 'NewsletterResultsEvent'
      : url.pathname.endsWith('/events')
      ? 'NewsletterEventsEvent'
      : 'NewsletterStatusEvent';
    violations.push(...contractViolations(schema, body).map((v) => `${req.method} ${url.pathname}: ${v}`));
    if (url.pathname.endsWith('/results')) {
      results.push({ ...seen, event: body as ResultsEvent });
    } else if (url.pathname.endsWith('/events')) {
      events.push({ ...seen, event: body as NewsletterEventsEvent });
    } else {
      received.push({ path: url.pathname, ...seen, event: body as BackendEvent });
    }
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    violations,
    results,
    events,
    pageRequests,
    failNext(n, status) {
      failures.callbacks = n;
      failures.callbackStatus = status;
    },
    failCallbacksFor(ms, status) {
      failures.callbacksUntil = Date.now() + ms;
      failures.callbackStatus = status;
    },
    get callbackRefusals() {
      return failures.refused;
    },
    failPages(n, status) {
      failures.pages = n;
      failures.pageStatus = status;
    },
    latency(ms) {
      delayMs = ms;
    },
    setList: (listId, list) => void lists.set(listId, list),
    removeFromList(listId, email) {
      const list = lists.get(listId);
      if (!Array.isArray(list)) throw new Error(`list ${listId} is not an array list`);
      lists.set(listId, list.filter((r) => r.email !== email));
    },
    eventsFor: (id) => received.filter((r) => r.event.newsletter_id === id).map((r) => r.event),
    resultsFor: (id) => results.filter((r) => r.event.newsletter_id === id).map((r) => r.event),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
