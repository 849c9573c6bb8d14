/**
 * What the scenarios run against, each in a process of its own on 127.0.0.1: a Temporal
 * dev server (the `temporal` CLI, flags of test/support/temporal.ts), the mock providers
 * (`mock-providers/main.ts`, bodies not kept) and the service (one bridge process, n
 * worker processes: `npm start -- --role=bridge|worker`, the production build as users start it, configured like the test suites).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { MockProvidersClient } from '../../mock-providers/client.ts';
import { dataConverter } from '../../src/data-converter.ts';
import { SUPPRESSION_SHARDS, suppressionWorkflowId } from '../../src/domain/suppression.ts';
import { freePort } from '../../test/support/ports.ts';
import { type Clients, connectClients } from '../../test/support/grpc.ts';
import { testServiceEnv } from '../../test/support/service-env.ts';
import { devServerArgs } from '../../test/support/temporal.ts';
import { type Child, logText, start, startBuilt, startNode, stop, waitUntil } from './procs.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HOST = '127.0.0.1';

const ok = async (url: string) => (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok;

/** Temporal is a running dev server and a client of it (with the service's gzip codec). */
export interface Temporal {
  address: string;
  child: Child;
  client: Client;
  close(): Promise<void>;
}

/** temporalCli resolves the CLI the way the Makefile does. */
function temporalCli(): string {
  return process.env.TEMPORAL_CLI ||
    execFileSync(`${ROOT}scripts/temporal-cli.sh`, { encoding: 'utf8', cwd: ROOT }).trim();
}

/** startTemporal starts an in-memory dev server (with devServerArgs() unless serverArgs replaces them) and connects to it. */
export async function startTemporal(name: string, serverArgs: string[] = devServerArgs()): Promise<Temporal> {
  const [port, httpPort, metricsPort] = [await freePort(HOST), await freePort(HOST), await freePort(HOST)];
  const address = `${HOST}:${port}`;
  const child = start(name, temporalCli(), [
    'server',
    'start-dev',
    '--headless',
    '--ip',
    HOST,
    '--port',
    String(port),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    '--log-level',
    'warn',
    ...serverArgs,
  ]);
  await waitUntil(child, 'a frontend answering', async () => {
    const probe = await Connection.connect({ address, connectTimeout: 1_000 });
    try {
      await probe.workflowService.getSystemInfo({});
      return true;
    } finally {
      await probe.close();
    }
  });
  const connection = await Connection.connect({ address });
  return {
    address,
    child,
    client: new Client({ connection, dataConverter }),
    async close() {
      await connection.close();
      await stop(child);
    },
  };
}

/** deleteWorkflow deletes every run of a workflow id and waits until the server no longer knows it. */
async function deleteWorkflow(temporal: Temporal, workflowId: string): Promise<void> {
  const { client } = temporal;
  const handle = client.workflow.getHandle(workflowId);
  const gone = async () => {
    try {
      await handle.describe();
      return false;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return true;
      throw err;
    }
  };
  for (let i = 0; i < 100 && !await gone(); i++) {
    await client.workflowService.deleteWorkflowExecution({
      namespace: client.options.namespace,
      workflowExecution: { workflowId },
    }).catch(() => undefined);
    await sleep(100);
  }
  if (!await gone()) throw new Error(`${workflowId} could not be deleted`);
}

/** Mock is the mock providers' process and its control client. */
export interface Mock {
  child: Child;
  resendUrl: string;
  postmarkUrl: string;
  control: MockProvidersClient;
  /** setup resets both providers and sets the Resend latency and rate limit (null: none). */
  setup(latencyMs: number, requestsPerSecond?: number | null): Promise<void>;
}

/** startMock runs mock-providers/main.ts with MOCK_KEEP_BODIES=false. */
export async function startMock(): Promise<Mock> {
  const [resendPort, postmarkPort] = [await freePort(HOST), await freePort(HOST)];
  const child = startNode('mock-providers', `${ROOT}mock-providers/main.ts`, [], {
    env: {
      MOCK_HOST: HOST,
      MOCK_RESEND_PORT: String(resendPort),
      MOCK_POSTMARK_PORT: String(postmarkPort),
      MOCK_KEEP_BODIES: 'false',
    },
  });
  const resendUrl = `http://${HOST}:${resendPort}`;
  const postmarkUrl = `http://${HOST}:${postmarkPort}`;
  await waitUntil(child, 'health', () => ok(`${resendUrl}/__mock/health`));
  await waitUntil(child, 'health', () => ok(`${postmarkUrl}/__mock/health`));
  const control = new MockProvidersClient(resendUrl, postmarkUrl);
  return {
    child,
    resendUrl,
    postmarkUrl,
    control,
    async setup(latencyMs, requestsPerSecond = null) {
      await control.reset();
      await control.latency('resend', latencyMs);
      const response = await fetch(`${resendUrl}/__mock/rate-limit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ requestsPerSecond }),
      });
      if (!response.ok) throw new Error(`mock rate limit: ${response.status} ${await response.text()}`);
    },
  };
}

/** ServiceOptions configure one deployment of the service. */
export interface ServiceOptions {
  name: string;
  temporal: Temporal;
  mock: Mock;
  backendUrl: string;
  /** workers is how many worker processes (one bridge process always). */
  workers: number;
  /** env overrides the service's environment (task queue, rates, batch size, concurrency). */
  env: Record<string, string>;
  /** cpuProfile writes a V8 CPU profile of each worker into bench/logs/ on exit. */
  cpuProfile?: boolean;
}

/** Service is a running bridge and its workers, with the generated gRPC clients. */
export interface Service {
  bridge: Child;
  workers: Child[];
  clients: Clients;
  env: Record<string, string>;
  /** ops are the /health /ready /metrics base URLs: the bridge's, then each worker's. */
  ops: { bridge: string; workers: string[] };
  /** stopWorkers stops every worker process (they drain as on SIGTERM); the bridge keeps running. */
  stopWorkers(): Promise<void>;
  /** startWorkers starts them again, on the same ops ports (`workers` then holds the new processes), once each is ready. */
  startWorkers(): Promise<void>;
  stop(): Promise<void>;
}

/** startService starts the bridge and the workers and resolves once every one of them is ready. */
export async function startService(options: ServiceOptions): Promise<Service> {
  const env = testServiceEnv({
    temporalAddress: options.temporal.address,
    resendUrl: options.mock.resendUrl,
    postmarkUrl: options.mock.postmarkUrl,
    backendUrl: options.backendUrl,
  }, { LOG_LEVEL: 'info', ...options.env });
  // The production build, as users run it (`npm start`): `make bench` builds it first.
  const main = `${ROOT}dist/src/main.js`;
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` (make bench does)`);
  const grpcPort = await freePort(HOST);
  const bridgeOps = await freePort(HOST);
  const bridge = startBuilt(`${options.name}-bridge`, ['--role=bridge'], {
    env: { ...env, TEMPORAL_SERVER_PORT: String(grpcPort), BRIDGE_OPS_PORT: String(bridgeOps) },
  });
  const workers: Child[] = [];
  const workerOps: number[] = [];
  let restarts = 0;
  let stopped = false;
  let restarting: Promise<void> = Promise.resolve();
  /** startWorker starts worker i on its ops port (a new log file for each restart: the first one's is kept). */
  const startWorker = (i: number) => {
    const name = `${options.name}-worker${i + 1}${restarts ? `-restart${restarts}` : ''}`;
    workers[i] = startBuilt(name, ['--role=worker'], {
      env: { ...env, WORKER_OPS_PORT: String(workerOps[i]) },
      nodeOptions: options.cpuProfile
        // A directory per process, Node's own file names: one profile per thread (main, workflows).
        ? ['--cpu-prof', `--cpu-prof-dir=${ROOT}bench/logs/${name}.cpuprofiles`]
        : [],
    });
  };
  const workersReady = async () => {
    for (const [i, worker] of workers.entries()) {
      await waitUntil(worker, 'readiness', () => ok(`http://${HOST}:${workerOps[i]}/ready`), 180_000);
    }
  };
  try {
    for (let i = 0; i < options.workers; i++) {
      workerOps.push(await freePort(HOST));
      startWorker(i);
    }
    await waitUntil(bridge, 'readiness', () => ok(`http://${HOST}:${bridgeOps}/ready`));
    await workersReady();
  } catch (err) {
    await Promise.all([bridge, ...workers].map((c) => stop(c)));
    throw err;
  }
  const clients = connectClients(grpcPort);
  return {
    bridge,
    workers,
    clients,
    env,
    ops: { bridge: `http://${HOST}:${bridgeOps}`, workers: workerOps.map((port) => `http://${HOST}:${port}`) },
    async stopWorkers() {
      await Promise.all(workers.map((c) => stop(c, 40_000)));
    },
    async startWorkers() {
      // Never a second process on a worker's ops port, nor workers for a deployment being stopped.
      if (stopped) throw new Error(`${options.name}: stopped, no workers to start`);
      if (workers.some((w) => w.exitedAs === undefined)) throw new Error(`${options.name}: workers still running`);
      restarts += 1;
      workers.forEach((_, i) => startWorker(i));
      restarting = workersReady();
      await restarting;
    },
    async stop() {
      stopped = true;
      await restarting.catch(() => undefined);
      clients.close();
      // Workers drain their in-flight activities for up to 30 s (shutdownGraceTime) before they exit.
      await Promise.all([bridge, ...workers].map((c) => stop(c, 40_000)));
      // The suppression list's shard workflows run on this deployment's task queue, which no worker
      // polls any more (a closed one is still queried there): deleted, so that the next deployment
      // on this server starts its own.
      await Promise.all(
        Array.from(
          { length: SUPPRESSION_SHARDS },
          (_, shard) => deleteWorkflow(options.temporal, suppressionWorkflowId(shard)),
        ),
      );
    },
  };
}

/** startFloorWorker runs bench/floor-worker.ts on taskQueue. */
export async function startFloorWorker(temporal: Temporal, mock: Mock, taskQueue: string): Promise<Child> {
  const child = startNode('floor-worker', `${ROOT}bench/floor-worker.ts`, [], {
    env: { BENCH_TEMPORAL_ADDRESS: temporal.address, BENCH_TASK_QUEUE: taskQueue, BENCH_RESEND_URL: mock.resendUrl },
  });
  await waitUntil(child, 'polling', () => logText(child).includes('floor worker polling'), 180_000);
  return child;
}
