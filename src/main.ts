/**
 * Entry point: `node dist/src/main.js [--role=bridge|worker|all]`. Parses the config
 * once, starts the requested roles with their ops endpoints, and stops them cleanly
 * on SIGINT/SIGTERM. Starts nothing else (no Temporal server, no mocks).
 */
import { Client, Connection } from '@temporalio/client';
import { temporalConnectionOptions } from './temporal-connection.ts';
import { ConfigError, loadConfig } from './config.ts';
import { dataConverter } from './data-converter.ts';
import { createLogger, type Logger, prettyStream } from './logger.ts';
import { startBridge } from './bridge/server.ts';
import { createMetrics } from './telemetry/metrics.ts';
import { startOpsServer } from './telemetry/ops-server.ts';
import { startWebhookServer } from './webhooks/server.ts';
import { clientInterceptors } from './telemetry/temporal-tracing.ts';
import { setupTracing } from './telemetry/tracing.ts';
import type { Config } from './config.ts';

type Role = 'bridge' | 'worker' | 'all';
type Stop = () => Promise<void>;

/** runtime names what runs this process: the bridge runs on Node and on Deno 2 from the same sources. */
function runtime(): string {
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  return deno ? `deno ${deno.version.deno}` : `node ${process.version}`;
}

/** parseRole reads `--role=bridge|worker|all` (default all); anything else is refused, never ignored. */
function parseRole(argv: string[]): Role {
  const unknown = argv.filter((a) => !a.startsWith('--role='));
  if (unknown.length > 0) {
    throw new ConfigError([`unknown argument ${JSON.stringify(unknown[0])}: the only one is --role=bridge|worker|all`]);
  }
  const arg = argv.findLast((a) => a.startsWith('--role='));
  const role = arg ? arg.slice('--role='.length) : 'all';
  if (role !== 'bridge' && role !== 'worker' && role !== 'all') {
    throw new ConfigError([`--role: must be bridge, worker or all (got "${role}")`]);
  }
  return role;
}

async function runBridge(config: Config, logger: Logger): Promise<Stop> {
  const metrics = createMetrics('bridge');
  // Lazy: the bridge comes up (and reports not ready) while Temporal is still starting.
  const connection = Connection.lazy(temporalConnectionOptions(config.temporal));
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    interceptors: clientInterceptors(),
    dataConverter,
  });
  const bridge = await startBridge({
    config,
    client,
    logger: logger.child({ role: 'bridge' }),
    metrics,
    descriptorDir: new URL('../contracts/gen/', import.meta.url),
  });
  const ops = await startOpsServer({
    host: config.grpc.host,
    port: config.ops.bridgePort,
    registry: metrics.registry,
    // Not ready once the bridge stops serving (it is draining): load balancers move on first.
    ready: async () => {
      if (!bridge.serving()) return false;
      await connection.withDeadline(Date.now() + 2_000, () => connection.workflowService.getSystemInfo({}));
      return true;
    },
  });
  logger.info({ port: ops.port }, 'bridge ops endpoint: /health /ready /metrics');
  const webhooks = await startWebhookServer({ config, client, logger: logger.child({ role: 'bridge' }), metrics });
  // SIGHUP re-reads the TLS certificates (as nginx and envoy do): a renewal is served at once.
  const reload = () => {
    logger.info('SIGHUP: re-reading the TLS certificates');
    void bridge.reloadCertificates();
  };
  process.on('SIGHUP', reload);
  return async () => {
    process.off('SIGHUP', reload);
    await bridge.close();
    await webhooks.close();
    await ops.close();
    // The Temporal connection is left to the process's end: closing its channel under a call still
    // retrying (a readiness probe, a handler a forced close cut off) makes grpc-js throw from a
    // timer, which would end the process at once, cutting short a worker draining beside it.
  };
}

async function main(): Promise<void> {
  let config: Config;
  let role: Role;
  try {
    role = parseRole(process.argv.slice(2));
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, undefined, config.logFormat === 'pretty' ? prettyStream() : undefined);
  logger.info({ role, runtime: runtime() }, 'starting');
  const tracing = setupTracing({
    serviceName: config.tracing.serviceName,
    otlp: config.tracing.otlp,
    resourceAttributes: config.tracing.resourceAttributes,
    logger,
  });
  // The worker's modules load only for a worker role: they need the Temporal Core native
  // library, which the bridge does not use (and which Deno, where the bridge also runs, cannot load).
  const worker = role === 'bridge' ? undefined : await import('./worker/run.ts');
  const coreMetricsUrl = await worker?.installRuntime(config, logger);
  const stops: Stop[] = [];
  // Tracing stops last: the spans of what the roles finish while they drain are exported too.
  const stopAll = async () => {
    await Promise.allSettled(stops.map((s) => s()));
    await tracing.shutdown();
  };
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await stopAll();
    process.exit(process.exitCode ?? 0);
  };
  // A second Ctrl-C does not wait for the drain (in-flight sends then retry, in doubt, on another worker).
  process.on('SIGINT', () => {
    if (stopping) {
      logger.warn('second SIGINT: exiting without waiting for the drain');
      process.exit(130);
    }
    void stop('SIGINT');
  });
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // SIGHUP never ends the process (a certificate renewal, `docker kill -s HUP`): the bridge re-reads
  // its certificates on it while it serves; a worker, or one still draining after its bridge stopped, has nothing to re-read.
  process.on('SIGHUP', () => {
    if (role === 'worker' || stopping) logger.info('SIGHUP: nothing to re-read');
  });
  try {
    // Before any role starts: a --role=all process must not serve as a bridge, then exit for its worker.
    worker?.checkWorkerConfig(config);
    if (role !== 'worker') stops.push(await runBridge(config, logger));
    // A SIGTERM while the bridge started: no worker starts polling only to be cut off at exit.
    if (role !== 'bridge' && !stopping) {
      const stopped = () => {
        process.exitCode = 1;
        void stop('workers stopped');
      };
      stops.push(await worker!.runWorker(config, logger, tracing, coreMetricsUrl!, stopped));
    }
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'start-up failed');
    await stopAll();
    process.exit(1);
  }
}

await main();
