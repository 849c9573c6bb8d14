/**
 * The ops HTTP server of a role: /health (alive), /ready (can serve) and /metrics.
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** OpsServer is a running ops endpoint. */
export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

/** startOpsServer serves the role's health, readiness and metrics on host:port. */
export async function startOpsServer(options: {
  host: string;
  port: number;
  registry: Registry;
  ready: () => Promise<boolean>;
  /** extraMetrics appends another exposition (Temporal Core's) so one scrape target has both. */
  extraMetrics?: () => Promise<string>;
}): Promise<OpsServer> {
  const server: Server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (path === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      } else if (path === '/ready') {
        const ready = await options.ready().catch(() => false);
        res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ status: ready ? 'ready' : 'not ready' }));
      } else if (path === '/metrics') {
        const extra = options.extraMetrics ? await options.extraMetrics().catch(() => '') : '';
        const body = `${await options.registry.metrics()}\n${extra}`;
        res.writeHead(200, { 'content-type': options.registry.contentType }).end(body);
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      }
    } catch {
      res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** freePort asks the OS for a port that is free on host right now. */
export async function freePort(host: string): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, host, resolve);
  });
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (typeof address !== 'object' || !address) throw new Error('could not find a free port');
  return address.port;
}

/** fetchText reads a Prometheus exposition from another endpoint (bounded wait). */
export async function fetchText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return response.ok ? await response.text() : '';
}
