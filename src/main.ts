/**
 * Entry point: `node dist/src/main.js [--role=bridge|worker|all]`. Parses the config
 * once, starts the requested roles with their ops endpoints, and stops them cleanly
 * on SIGINT/SIGTERM. Starts nothing else (no Temporal server, no mocks).
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { temporalConnectionOptions } from './temporal-connection.ts';
import { ConfigError, loadConfig } from './config.ts';
import { dataConverter } from './data-converter.ts';
import { createLogger, type Logger } from './logger.ts';
import { startBridge } from './bridge/server.ts';
import { createMetrics } from './telemetry/metrics.ts';
import { fetchText, freePort, startOpsServer } from './telemetry/ops-server.ts';
import { startWebhookServer } from './webhooks/server.ts';
import { installTemporalRuntime } from './telemetry/temporal-runtime.ts';
import { clientInterceptors } from './telemetry/temporal-tracing.ts';
import { setupTracing, type Tracing } from './telemetry/tracing.ts';
import { createWorker, type NewsletterWorkers } from './worker/worker.ts';
import type { Config } from './config.ts';

type Role = 'bridge' | 'worker' | 'all';
type Stop = () => Promise<void>;

function parseRole(argv: string[]): Role {
  const arg = argv.find((a) => a.startsWith('--role='));
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
    ready: async () => {
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
    await connection.close();
  };
}

async function connectWorker(config: Config, logger: Logger): Promise<NativeConnection> {
  for (let attempt = 1;; attempt++) {
    try {
      return await NativeConnection.connect(temporalConnectionOptions(config.temporal));
    } catch (err) {
      const delay = Math.min(1_000 * attempt, 10_000);
      logger.warn(
        { err: (err as Error).message, attempt },
        `Temporal unreachable at ${config.temporal.address}; retrying in ${delay} ms`,
      );
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

async function runWorker(
  config: Config,
  logger: Logger,
  tracing: Tracing,
  coreMetricsUrl: string | undefined,
): Promise<Stop> {
  const log = logger.child({ role: 'worker' });
  const metrics = createMetrics('worker');
  // The ops endpoint comes up first (not ready) while the worker waits for Temporal.
  const current: { worker?: NewsletterWorkers } = {};
  const ops = await startOpsServer({
    host: config.grpc.host,
    port: config.ops.workerPort,
    registry: metrics.registry,
    ready: () => Promise.resolve(current.worker?.getState() === 'RUNNING'),
    // Temporal Core's own metrics (temporal_*) through the same scrape target.
    extraMetrics: coreMetricsUrl ? () => fetchText(coreMetricsUrl) : undefined,
  });
  log.info({ port: ops.port }, 'worker ops endpoint: /health /ready /metrics');
  const connection = await connectWorker(config, log);
  const worker = await createWorker({ config, connection, logger: log, metrics, tracing });
  current.worker = worker;
  const running = worker.run();
  log.info({ taskQueue: config.temporal.taskQueue }, 'worker polling');
  running.catch((err) => {
    log.fatal({ err }, 'worker stopped unexpectedly');
    process.exitCode = 1;
  });
  return async () => {
    worker.shutdown();
    await running.catch(() => {});
    await connection.close();
    await ops.close();
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
  const logger = createLogger(config.logLevel);
  const tracing = setupTracing({ serviceName: config.tracing.serviceName, otlp: config.tracing.otlp });
  // Core serves its metrics on a private loopback port; the worker's /metrics includes them.
  const corePort = role === 'bridge' ? undefined : await freePort('127.0.0.1');
  installTemporalRuntime(logger, config.logLevel, corePort ? `127.0.0.1:${corePort}` : undefined);
  const stops: Stop[] = [async () => await tracing.shutdown()];
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await Promise.allSettled(stops.map((s) => s()));
    process.exit(process.exitCode ?? 0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // The bridge re-reads its certificates on SIGHUP; a worker alone has nothing to re-read, and must not die of it.
  if (role === 'worker') process.on('SIGHUP', () => logger.info('SIGHUP: the worker has nothing to re-read'));
  try {
    if (role !== 'worker') stops.push(await runBridge(config, logger));
    if (role !== 'bridge') {
      stops.push(
        await runWorker(config, logger, tracing, corePort ? `http://127.0.0.1:${corePort}/metrics` : undefined),
      );
    }
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'start-up failed');
    await Promise.allSettled(stops.map((s) => s()));
    process.exit(1);
  }
}

await main();
