/**
 * The integration harness: a real Temporal dev server (the `temporal` CLI, never the
 * SDK's download), the mock providers driven by the real SDKs, a backend mock, and the
 * service's real bridge and worker, reached through the generated gRPC clients.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { Client } from '@temporalio/client';
import type { NewsletterServiceClient } from '../../contracts/gen/authentik/temporal/v1/newsletter.client.ts';
import type { WorkflowServiceClient } from '../../contracts/gen/authentik/temporal/v1/workflow.client.ts';
import { type MockProviders, startMockProviders } from '../../mock-providers/server.ts';
import { type Bridge, startBridge } from '../../src/bridge/server.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { dataConverter } from '../../src/data-converter.ts';
import { createLogger } from '../../src/logger.ts';
import { installTemporalRuntime } from '../../src/telemetry/temporal-runtime.ts';
import { fetchText, startOpsServer } from '../../src/telemetry/ops-server.ts';
import { freePort } from '../support/ports.ts';
import { createMetrics, type Metrics } from '../../src/telemetry/metrics.ts';
import { clientInterceptors, WORKFLOW_INTERCEPTOR_MODULES } from '../../src/telemetry/temporal-tracing.ts';
import { setupTracing } from '../../src/telemetry/tracing.ts';
import { startWebhookServer, type WebhookServer } from '../../src/webhooks/server.ts';
import { createWorker, type NewsletterWorkers, workflowsPath } from '../../src/worker/worker.ts';
import { type BackendMock, startBackendMock } from '../support/backend.ts';
import { auth, silentLogger } from '../support/fixtures.ts';
import { connectClients } from '../support/grpc.ts';
import { testServiceEnv } from '../support/service-env.ts';
import { devServerArgs } from '../support/temporal.ts';
import { type Child, startNode } from '../support/processes.ts';

/** temporalCli resolves the CLI the way the Makefile does. */
export function temporalCli(): string {
  return process.env.TEMPORAL_CLI || execFileSync('scripts/temporal-cli.sh', { encoding: 'utf8' }).trim();
}

/** Stack is everything one suite runs against. */
export interface Stack {
  env: TestWorkflowEnvironment;
  mock: MockProviders;
  backend: BackendMock;
  config: Config;
  /** serviceEnv is the environment the stack's service was configured from. */
  serviceEnv: Record<string, string>;
  bridge: Bridge;
  worker: NewsletterWorkers;
  /** metrics is the worker's registry, as its /metrics would serve it. */
  metrics: Metrics;
  /** webhooks is the bridge's provider webhook endpoint (WEBHOOK_PORT). */
  webhooks: WebhookServer;
  /** ops are the bridge's and the worker's /health /ready /metrics endpoints (worker with Temporal Core metrics). */
  ops: { bridgePort: number; workerPort: number };
  newsletters: NewsletterServiceClient;
  workflows: WorkflowServiceClient;
  /** auth is the call option carrying the bearer token. */
  auth: { meta: { authorization: string } };
  /** logs holds every line the service's logger wrote (bridge and worker), as JSON text. */
  logs: string[];
  /** restartWorker shuts the worker down and starts a new one in its place (same config, same task queues). */
  restartWorker(): Promise<void>;
  /** stopWorker shuts the worker down (no worker polls until startWorker). */
  stopWorker(): Promise<void>;
  /** startWorker starts a worker after stopWorker. */
  startWorker(): Promise<void>;
  close(): Promise<void>;
}

const testLogLevel = process.env.TEST_LOG_LEVEL ?? 'error';
const coreMetricsPort = await freePort('127.0.0.1');
installTemporalRuntime(createLogger(testLogLevel), testLogLevel, `127.0.0.1:${coreMetricsPort}`);

/** spans collects every finished span of this test process (the tracing a deployment exports over OTLP). */
export const spans = new InMemorySpanExporter();
const tracing = setupTracing({ serviceName: 'authentik-temporal-server-test', otlp: false, exporter: spans });

let bundle: Awaited<ReturnType<typeof bundleWorkflowCode>> | undefined;

/** startStack starts a fresh stack; overrides are environment variables of the service. */
export async function startStack(overrides: Record<string, string> = {}, serverArgs: string[] = []): Promise<Stack> {
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCli() },
      ip: '127.0.0.1',
      extraArgs: ['--headless', '--log-level', 'error', ...devServerArgs(), ...serverArgs],
    },
  });
  const mock = await startMockProviders();
  const backend = await startBackendMock();
  const serviceEnv = testServiceEnv(
    { resendUrl: mock.resendUrl, postmarkUrl: mock.postmarkUrl, backendUrl: backend.url },
    { TEMPORAL_SERVER_PORT: '0', TEMPORAL_TASK_QUEUE: `it-${randomUUID()}`, LOG_LEVEL: testLogLevel, ...overrides },
  );
  const config = loadConfig(serviceEnv);
  // Every line is kept for the suites that read the logs; shown too when TEST_LOG_LEVEL asks for logs.
  const logs: string[] = [];
  const logger = createLogger(config.logLevel, undefined, {
    write(line: string) {
      logs.push(line);
      if (process.env.TEST_LOG_LEVEL) process.stdout.write(line);
    },
  });
  bundle ??= await bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: silentLogger,
  });
  const metrics = createMetrics('worker');
  const newWorker = () =>
    createWorker({
      config,
      connection: env.nativeConnection,
      logger,
      metrics,
      tracing,
      workflowBundle: bundle!,
    });
  let worker = await newWorker();
  let running = worker.run();
  const bridgeMetrics = createMetrics('bridge');
  const bridgeClient = new Client({ connection: env.connection, interceptors: clientInterceptors(), dataConverter });
  const bridge = await startBridge({
    config,
    metrics: bridgeMetrics,
    client: bridgeClient,
    logger,
    descriptorDir: new URL('../../contracts/gen/', import.meta.url),
  });
  const webhooks = await startWebhookServer({ config, client: bridgeClient, logger, metrics: bridgeMetrics });
  const ready = () => Promise.resolve(true);
  const bridgeOps = await startOpsServer({ host: '127.0.0.1', port: 0, registry: bridgeMetrics.registry, ready });
  const workerOps = await startOpsServer({
    host: '127.0.0.1',
    port: 0,
    registry: metrics.registry,
    ready,
    extraMetrics: () => fetchText(`http://127.0.0.1:${coreMetricsPort}/metrics`),
  });
  const clients = connectClients(bridge.port);
  const stack: Stack = {
    env,
    mock,
    backend,
    config,
    serviceEnv,
    bridge,
    worker,
    webhooks,
    metrics,
    ops: { bridgePort: bridgeOps.port, workerPort: workerOps.port },
    newsletters: clients.newsletters,
    workflows: clients.workflows,
    auth,
    logs,
    async restartWorker() {
      await stack.stopWorker();
      await stack.startWorker();
    },
    async stopWorker() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
    async startWorker() {
      worker = await newWorker();
      running = worker.run();
      stack.worker = worker;
    },
    async close() {
      clients.close();
      await bridge.close();
      await webhooks.close();
      await stack.stopWorker();
      await env.teardown();
      await mock.close();
      await backend.close();
      await bridgeOps.close();
      await workerOps.close();
      // Every suite also checks that what the service sent the backend matches the contract.
      if (backend.violations.length > 0) {
        throw new Error(
          `the service sent the backend bodies the contract does not allow:\n${backend.violations.join('\n')}`,
        );
      }
    },
  };
  return stack;
}

/**
 * TS_FLAGS run the service's TypeScript sources in a child process: only these, not this test
 * process's execArgv (the test runner's, e.g. --report-signal=SIGUSR2, change how it takes signals).
 */
export const TS_FLAGS = ['--experimental-transform-types', '--disable-warning=ExperimentalWarning'];

/**
 * startWorkerProcess runs one more worker replica as operators do (`node src/main.ts
 * --role=worker`), with the stack's configuration plus env, and resolves once it polls.
 */
export async function startWorkerProcess(
  stack: Stack,
  env: Record<string, string> = {},
): Promise<{ stop(): Promise<void>; signal(name: NodeJS.Signals): void; exited: Promise<number | string> }> {
  const child = spawn(process.execPath, [...TS_FLAGS, 'src/main.ts', '--role=worker'], {
    env: {
      ...process.env,
      ...stack.serviceEnv,
      TEMPORAL_ADDRESS: stack.env.address,
      WORKER_OPS_PORT: '0',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('worker polling')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker process exited (${code}) before polling`)));
  });
  child.stdout!.resume();
  const exited = new Promise<number | string>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode!);
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  return {
    exited,
    signal: (name) => child.kill(name),
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * startBridgeProcess runs a bridge as operators do (`node src/main.ts --role=bridge`) with the
 * stack's configuration plus env, on free ports, logging to <tmpdir>/<name>/<name>.log; it is
 * started, not yet ready (wait for its /ready on opsPort).
 */
export async function startBridgeProcess(
  stack: Stack,
  name: string,
  env: Record<string, string> = {},
): Promise<{ bridge: Child; port: number; opsPort: number }> {
  const [port, opsPort] = [await freePort(), await freePort()];
  const bridge = startNode(name, fileURLToPath(new URL('../../src/main.ts', import.meta.url)), ['--role=bridge'], {
    env: {
      ...stack.serviceEnv,
      TEMPORAL_ADDRESS: stack.env.address,
      TEMPORAL_SERVER_PORT: String(port),
      BRIDGE_OPS_PORT: String(opsPort),
      LOG_LEVEL: 'info',
      ...env,
    },
    logDir: join(tmpdir(), name),
  });
  return { bridge, port, opsPort };
}
