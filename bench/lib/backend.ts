/**
 * A minimal backend stand-in for runs of any size: serves generated recipient lists page
 * by page (cursor = offset, as test/support/backend.ts does), answers 204 to every
 * callback (status, results, provider events) and 200 to OTLP trace exports, counting
 * per-recipient results and keeping each newsletter's last lifecycle event, never the
 * bodies (a million results would not fit the way the test stand-in keeps them).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** recipientAt is recipient i of a generated list, shaped like test/support/fixtures.ts recipients(). */
export function recipientAt(prefix: string, i: number) {
  return {
    email: `${prefix}${i}@example.com`,
    name: `<${prefix} ${i}> & co`,
    variables: { index: String(i) },
    recipientId: `${prefix}-${i}`,
  };
}

/** BenchBackend is a running stand-in. */
export interface BenchBackend {
  url: string;
  /** setList serves a list of size generated recipients named <prefix><i>@example.com. */
  setList(listId: string, size: number, prefix: string): void;
  /** results counts the per-recipient results received for a newsletter (repeats included). */
  results(newsletterId: string): number;
  /** lastState is the state of the newsletter's last lifecycle callback. */
  lastState(newsletterId: string): string | undefined;
  pageRequests: number;
  /** traceExports counts the OTLP/HTTP trace exports received at /v1/traces (OTEL_EXPORTER_OTLP_ENDPOINT=url). */
  traceExports: number;
  close(): Promise<void>;
}

/** startBenchBackend listens on 127.0.0.1 with an OS-chosen port. */
export async function startBenchBackend(): Promise<BenchBackend> {
  const lists = new Map<string, { size: number; prefix: string }>();
  const results = new Map<string, number>();
  const states = new Map<string, string>();
  const counters = { pageRequests: 0, traceExports: 0 };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://backend');
    // /api/internal/newsletters/{id}/{recipients|status|results}
    const [, newsletterId = '', kind] = /\/newsletters\/([^/]+)\/(\w+)$/.exec(url.pathname) ?? [];
    if (req.method === 'GET' && kind === 'recipients') {
      counters.pageRequests += 1;
      const list = lists.get(url.searchParams.get('list_id') ?? '');
      if (!list) {
        res.writeHead(404).end();
        return;
      }
      const offset = Number(url.searchParams.get('cursor') || 0);
      const end = Math.min(list.size, offset + Number(url.searchParams.get('limit') ?? 100));
      const recipients = [];
      for (let i = offset; i < end; i++) {
        const r = recipientAt(list.prefix, i);
        recipients.push({ email: r.email, name: r.name, recipient_id: r.recipientId, variables: r.variables });
      }
      const body = { recipients, ...(end < list.size ? { next_cursor: String(end) } : {}) };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    if (req.method === 'POST' && url.pathname === '/v1/traces') {
      // An OTLP/HTTP collector that keeps nothing: the service's spans are exported as a deployment's are.
      counters.traceExports += 1;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      return;
    }
    if (req.method === 'POST' && (kind === 'results' || kind === 'status' || kind === 'events')) {
      const id = decodeURIComponent(newsletterId);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { results?: unknown[]; state?: string };
      if (kind === 'results') results.set(id, (results.get(id) ?? 0) + (body.results?.length ?? 0));
      else if (body.state) states.set(id, body.state);
      res.writeHead(204).end();
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setList: (listId, size, prefix) => void lists.set(listId, { size, prefix }),
    results: (id) => results.get(id) ?? 0,
    lastState: (id) => states.get(id),
    get pageRequests() {
      return counters.pageRequests;
    },
    get traceExports() {
      return counters.traceExports;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
