/**
 * The chaos suite's stack, run as operators run the service: a Temporal dev server with
 * its database in a file (so it can be killed and started again on it), the service's
 * bridge and worker processes from the production build started as `npm start` starts it, and, in
 * this process, the mock providers and the backend stand-in that count what arrives.
 * Every process binds to 127.0.0.1 and is killed when the suite ends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { type MockProviders, startMockProviders } from '../../mock-providers/server.ts';
import { freePort } from '../support/ports.ts';
import { type BackendMock, startBackendMock } from '../support/backend.ts';
import { type Clients, connectClients } from '../support/grpc.ts';
import { type Child, kill, start, startBuilt, stop, waitUntil } from '../support/processes.ts';
import { testServiceEnv } from '../support/service-env.ts';
import { devServerArgs } from '../support/temporal.ts';
import { fileURLToPath } from 'node:url';

const HOST = '127.0.0.1';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** LOG_DIR holds every child's log of the last run (test/chaos/logs/<name>.log). */
export const LOG_DIR = join(ROOT, 'test/chaos/logs');

/** ChaosStack is one running stack and the faults a test can inject into it. */
export interface ChaosStack extends Clients {
  mock: MockProviders;
  backend: BackendMock;
  /** webhookUrl is the bridge's webhook endpoint base (`…/webhooks/resend`, `…/webhooks/postmark`), the same across restarts. */
  webhookUrl: string;
  /** killBridge SIGKILLs the bridge and starts it again on the same ports. */
  killBridge(): Promise<void>;
  /** killWorker SIGKILLs worker i (no drain, no goodbye) and starts a new one in its place. */
  killWorker(i: number): Promise<void>;
  /** restartTemporal SIGKILLs the Temporal server and starts it again on the same database file. */
  restartTemporal(): Promise<void>;
  close(): Promise<void>;
}

async function ok(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
  return response.ok;
}

/** startChaosStack starts Temporal, the mocks, one bridge and `workers` worker processes with the given settings. */
export async function startChaosStack(
  name: string,
  options: { workers: number; env?: Record<string, string> },
): Promise<ChaosStack> {
  const dir = mkdtempSync(join(tmpdir(), `chaos-${name}-`));
  const port = await freePort(HOST);
  const address = `${HOST}:${port}`;
  const temporalArgs = [
    'server',
    'start-dev',
    '--headless',
    '--ip',
    HOST,
    '--port',
    String(port),
    '--db-filename',
    join(dir, 'temporal.db'),
    '--log-level',
    'error',
    ...devServerArgs(),
  ];
  const cli = process.env.TEMPORAL_CLI ?? 'temporal';
  const startTemporal = async (run: number) => {
    const child = start(`${name}-temporal${run}`, cli, temporalArgs, { logDir: LOG_DIR });
    await waitUntil(child, 'its frontend', async () => {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      await connection.close();
      return true;
    }, 60_000);
    return child;
  };
  let temporal = await startTemporal(1);
  let temporalRuns = 1;
  // Service processes ever started (killed ones included: stopping those is a no-op).
  const services: Child[] = [];
  let mock: MockProviders | undefined;
  let backend: BackendMock | undefined;
  const stopAll = async () => {
    await Promise.all(services.map((c) => stop(c, 35_000)));
    await stop(temporal);
    await mock?.close();
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  // A stack that fails to come up stops what it started: a half-started stack must not
  // keep the test process (and CI) alive.
  try {
    mock = await startMockProviders();
    backend = await startBackendMock();
    const env = testServiceEnv({
      temporalAddress: address,
      resendUrl: mock.resendUrl,
      postmarkUrl: mock.postmarkUrl,
      backendUrl: backend.url,
    }, { LOG_LEVEL: 'info', ...options.env });
    const startWorker = async (): Promise<Child> => {
      const opsPort = await freePort(HOST);
      const worker = startBuilt(`${name}-worker${services.length}`, ['--role=worker'], {
        env: { ...env, WORKER_OPS_PORT: String(opsPort) },
        logDir: LOG_DIR,
      });
      services.push(worker);
      await waitUntil(worker, 'readiness', () => ok(`http://${HOST}:${opsPort}/ready`), 60_000);
      return worker;
    };

    const [grpcPort, bridgeOps, webhookPort] = [await freePort(HOST), await freePort(HOST), await freePort(HOST)];
    let bridges = 0;
    const startBridge = () => {
      bridges += 1;
      const child = startBuilt(`${name}-bridge${bridges}`, ['--role=bridge'], {
        env: {
          ...env,
          TEMPORAL_SERVER_PORT: String(grpcPort),
          BRIDGE_OPS_PORT: String(bridgeOps),
          WEBHOOK_PORT: String(webhookPort),
        },
        logDir: LOG_DIR,
      });
      services.push(child);
      return child;
    };
    let bridge = startBridge();
    const workers: Child[] = [];
    for (let i = 0; i < options.workers; i++) workers.push(await startWorker());
    await waitUntil(bridge, 'readiness', () => ok(`http://${HOST}:${bridgeOps}/ready`), 60_000);
    const clients = connectClients(grpcPort);

    return {
      ...clients,
      mock,
      backend,
      webhookUrl: `http://${HOST}:${webhookPort}/webhooks`,
      async killBridge() {
        await kill(bridge);
        bridge = startBridge();
        await waitUntil(bridge, 'readiness', () => ok(`http://${HOST}:${bridgeOps}/ready`), 60_000);
      },
      async killWorker(i) {
        await kill(workers[i]!);
        workers[i] = await startWorker();
      },
      async restartTemporal() {
        await kill(temporal);
        await sleep(500);
        temporalRuns += 1;
        temporal = await startTemporal(temporalRuns);
      },
      async close() {
        clients.close();
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Delivery is what the mock providers received for one newsletter's recipients (by address prefix). */
export interface Delivery {
  resend: number;
  postmark: number;
  total: number;
  distinct: number;
  duplicates: number;
}

/** deliveryOf counts the emails the mocks accepted whose address starts with prefix. */
export function deliveryOf(mock: MockProviders, prefix: string): Delivery {
  const of = (provider: 'resend' | 'postmark') =>
    mock[provider].received().flatMap((e) => e.to).filter((to) => to.startsWith(prefix));
  const resend = of('resend');
  const postmark = of('postmark');
  const all = [...resend, ...postmark];
  const distinct = new Set(all).size;
  return {
    resend: resend.length,
    postmark: postmark.length,
    total: all.length,
    distinct,
    duplicates: all.length - distinct,
  };
}
