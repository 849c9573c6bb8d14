/**
 * A stand-in for the Authentik backend's status callback endpoint: records every
 * callback and can be told to fail, for tests of callback delivery.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BackendEvent } from '../../src/domain/types.ts';

/** ReceivedCallback is one POST the backend mock accepted. */
export interface ReceivedCallback {
  path: string;
  authorization: string | undefined;
  event: BackendEvent;
}

/** BackendMock is a running backend stand-in. */
export interface BackendMock {
  url: string;
  received: ReceivedCallback[];
  /** failNext answers the next n callbacks with status. */
  failNext(n: number, status: number): void;
  eventsFor(newsletterId: string): BackendEvent[];
  close(): Promise<void>;
}

/** startBackendMock listens on 127.0.0.1 with an OS-chosen port. */
export async function startBackendMock(): Promise<BackendMock> {
  const received: ReceivedCallback[] = [];
  let failures = 0;
  let failStatus = 503;
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (failures > 0) {
      failures -= 1;
      res.writeHead(failStatus).end();
      return;
    }
    received.push({
      path: req.url ?? '',
      authorization: req.headers.authorization,
      event: JSON.parse(Buffer.concat(chunks).toString('utf8')) as BackendEvent,
    });
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    failNext(n, status) {
      failures = n;
      failStatus = status;
    },
    eventsFor: (id) => received.filter((r) => r.event.newsletter_id === id).map((r) => r.event),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
