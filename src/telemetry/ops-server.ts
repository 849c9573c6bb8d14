/**
 * The ops HTTP server of a role: /health (alive), /ready (can serve) and /metrics.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Gauge, type Registry } from 'prom-client';
import { withDeadline } from '../deadline.ts';

/** OpsServer is a running ops endpoint. */
export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

/** Probes: what /ready asks, what /health adds to its status, and /metrics where it is served. */
export interface Probes {
  ready: () => Promise<boolean> | boolean;
  /** health adds fields to /health's {"status":"ok"} (the bridge says what gRPC health reports). */
  health?: () => Record<string, string>;
  metrics?: {
    registry: Registry;
    /** extra appends another exposition (Temporal Core's) so one scrape target has both. */
    extra?: () => Promise<string>;
  };
  /** notFound is the 404 answer's error text. */
  notFound: string;
}

/**
 * probeHandler answers /health (alive), /ready (can serve) and, when given, /metrics: the
 * same answers on a role's ops port and on the bridge's gRPC port (its HTTP/1.1 side).
 */
export function probeHandler(probes: Probes): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const json = (res: ServerResponse, status: number, value: object) =>
    void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  const extraUp = probes.metrics?.extra ? extraMetricsGauge(probes.metrics.registry) : undefined;
  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (path === '/health') json(res, 200, { status: 'ok', ...probes.health?.() });
      else if (path === '/ready') {
        const ready = await Promise.resolve().then(probes.ready).catch(() => false);
        json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
      } else if (path === '/metrics' && probes.metrics) {
        const { registry, extra } = probes.metrics;
        // Without Core's exposition the scrape still answers (ours alone), and says so: the temporal_*
        // series would otherwise just stop.
        let more = '';
        if (extra) {
          try {
            more = await extra();
            extraUp?.set(1);
          } catch {
            extraUp?.set(0);
          }
        }
        res.writeHead(200, { 'content-type': registry.contentType }).end(`${await registry.metrics()}\n${more}`);
      } else json(res, 404, { error: probes.notFound });
    } catch {
      res.writeHead(500).end();
    }
  };
}

/** CORE_METRICS_UP names the gauge that says whether a scrape included Temporal Core's metrics. */
export const CORE_METRICS_UP = 'newsletter_core_metrics_up';

/** extraMetricsGauge is CORE_METRICS_UP in registry (registered once, whoever asks). */
function extraMetricsGauge(registry: Registry): Gauge {
  const existing = registry.getSingleMetric(CORE_METRICS_UP);
  if (existing) return existing as Gauge;
  return new Gauge({
    name: CORE_METRICS_UP,
    help: "1 when this scrape included Temporal Core's metrics (the temporal_* series), 0 when they could not be read.",
    registers: [registry],
  });
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
  const server: Server = createServer(probeHandler({
    ready: options.ready,
    metrics: { registry: options.registry, extra: options.extraMetrics },
    notFound: 'not found',
  }));
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

/** fetchText reads a Prometheus exposition from another endpoint (bounded wait); an answer other than 2xx is a failure. */
export function fetchText(url: string): Promise<string> {
  // Its timer is cleared once the scrape is read (deadline.ts), and bounds reading the body too.
  return withDeadline(2_000, undefined, async (signal) => {
    const response = await fetch(url, { signal });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`${url} answered ${response.status}`);
    }
    return await response.text();
  });
}
