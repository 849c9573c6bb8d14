/**
 * The worker role (`src/main.ts --role=worker|all`): the Temporal runtime with our logger and
 * Core's metrics, the connection (retried until Temporal answers), the ops endpoint and the
 * workers. Loaded by main.ts only for a worker role: it needs the Temporal Core native library.
 */
import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config.ts';
import { maskedError } from '../domain/addresses.ts';
import type { Logger } from '../logger.ts';
import { createMetrics } from '../telemetry/metrics.ts';
import { fetchText, freePort, startOpsServer } from '../telemetry/ops-server.ts';
import { installTemporalRuntime } from '../telemetry/temporal-runtime.ts';
import type { Tracing } from '../telemetry/tracing.ts';
import { temporalConnectionOptions } from '../temporal-connection.ts';
import { applyMemoryProfile } from './memory.ts';
import { createWorker, type NewsletterWorkers } from './worker.ts';

export { checkWorkerConfig } from './worker.ts';

type Stop = () => Promise<void>;

/**
 * installRuntime installs the process-wide Temporal runtime (before any connection); Core
 * serves its metrics on a private loopback port, whose URL it returns for runWorker.
 */
export async function installRuntime(config: Config, logger: Logger): Promise<string> {
  const corePort = await freePort('127.0.0.1');
  installTemporalRuntime(logger, config.logLevel, `127.0.0.1:${corePort}`);
  return `http://127.0.0.1:${corePort}/metrics`;
}

async function connectWorker(config: Config, logger: Logger): Promise<NativeConnection> {
  // Outside the retries: a TLS file that cannot be read is a configuration error, not an outage.
  const options = temporalConnectionOptions(config.temporal);
  for (let attempt = 1;; attempt++) {
    try {
      return await NativeConnection.connect(options);
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

/**
 * runWorker starts the worker role and returns how to stop it. onStopped is called when the
 * workers stop by themselves (a fatal error): the process must not stay up without them.
 */
export async function runWorker(
  config: Config,
  logger: Logger,
  tracing: Tracing,
  coreMetricsUrl: string,
  onStopped: () => void,
): Promise<Stop> {
  const log = logger.child({ role: 'worker' });
  // Before the worker exists: its workflow thread's isolate takes the profile's sizes when created.
  applyMemoryProfile(config.workerMemory);
  const metrics = createMetrics('worker');
  // The ops endpoint comes up first (not ready) while the worker waits for Temporal.
  const current: { worker?: NewsletterWorkers } = {};
  let coreMetricsFailing = false;
  const ops = await startOpsServer({
    host: config.grpc.host,
    port: config.ops.workerPort,
    registry: metrics.registry,
    ready: () => Promise.resolve(current.worker?.getState() === 'RUNNING'),
    // Temporal Core's own metrics (temporal_*) through the same scrape target; when they cannot be
    // read the scrape says so (newsletter_core_metrics_up) and the log says why, once until they can.
    extraMetrics: () =>
      fetchText(coreMetricsUrl).then((text) => {
        coreMetricsFailing = false;
        return text;
      }, (err: unknown) => {
        if (!coreMetricsFailing) {
          log.warn(
            { err: maskedError(err).message },
            "Temporal Core's metrics could not be read: scrapes go on without them",
          );
        }
        coreMetricsFailing = true;
        throw err;
      }),
  });
  log.info({ port: ops.port }, 'worker ops endpoint: /health /ready /metrics');
  const connection = await connectWorker(config, log);
  const worker = await createWorker({ config, connection, logger: log, metrics, tracing });
  current.worker = worker;
  const running = worker.run();
  let stopping = false;
  watchWorkers(running, () => stopping, onStopped, log);
  log.info({ taskQueue: config.temporal.taskQueue }, 'worker polling');
  return async () => {
    stopping = true;
    worker.shutdown();
    await running.catch(() => {});
    await connection.close();
    await ops.close();
  };
}

/**
 * watchWorkers calls onStopped when the workers' run ends while nobody is stopping them (a
 * fatal error, or a shutdown from elsewhere): a process without workers must not stay up.
 */
export function watchWorkers(
  running: Promise<void>,
  stopping: () => boolean,
  onStopped: () => void,
  log: Pick<Logger, 'fatal'>,
): void {
  running.then(
    () => {
      if (stopping()) return;
      log.fatal('workers stopped by themselves');
      onStopped();
    },
    (err: unknown) => {
      log.fatal({ error: maskedError(err) }, 'worker stopped unexpectedly');
      if (!stopping()) onStopped();
    },
  );
}
