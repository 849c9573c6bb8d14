/**
 * The e2e harness: Testcontainers for Node starting the images `make e2e` builds — a
 * Temporal dev server, the mock providers, and the service itself (a container from the
 * service image, as operators run it: this is what the restart suite kills). Containers
 * use host network mode bound to 127.0.0.1 with ports chosen free per run, so suites run
 * repeatedly and test traffic stays on loopback. The backend stand-in runs in the test
 * process; the tests talk to the bridge with the generated gRPC client.
 */
import { after, before } from 'node:test';
import { Connection } from '@temporalio/client';
import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { MockProvidersClient } from '../mock-providers/client.ts';
import { freePort } from '../test/support/ports.ts';
import { type BackendMock, startBackendMock } from '../test/support/backend.ts';
import { eventually } from '../test/support/eventually.ts';
import { type Clients, connectClients } from '../test/support/grpc.ts';
import { testServiceEnv } from '../test/support/service-env.ts';
import { devServerArgs } from '../test/support/temporal.ts';

/** IMAGES are the tags `make e2e` builds. */
export const IMAGES = {
  service: process.env.E2E_SERVICE_IMAGE ?? 'authentik-temporal-server:e2e',
  temporal: process.env.E2E_TEMPORAL_IMAGE ?? 'authentik-temporal-dev:e2e',
  mocks: process.env.E2E_MOCK_IMAGE ?? 'authentik-mock-providers:e2e',
};

/** Deps are the containers and stand-ins a service container talks to. */
export interface Deps {
  temporal: StartedTestContainer;
  temporalAddress: string;
  mocksContainer: StartedTestContainer;
  mocks: MockProvidersClient;
  backend: BackendMock;
  close(): Promise<void>;
}

/** startDeps starts Temporal and the mock providers in containers, and the backend stand-in. */
export async function startDeps(): Promise<Deps> {
  const [temporalPort, httpPort, metricsPort, resendPort, postmarkPort] = await Promise.all(
    Array.from({ length: 5 }, () => freePort()),
  );
  const started = await Promise.allSettled([
    new GenericContainer(IMAGES.temporal)
      .withNetworkMode('host')
      .withCommand([
        '--ip',
        '127.0.0.1',
        '--port',
        String(temporalPort),
        '--http-port',
        String(httpPort),
        '--metrics-port',
        String(metricsPort),
        '--log-level',
        'error',
        ...devServerArgs(),
      ])
      .withWaitStrategy(Wait.forLogMessage(/Temporal Server:/))
      .withStartupTimeout(60_000)
      .start(),
    new GenericContainer(IMAGES.mocks)
      .withNetworkMode('host')
      .withEnvironment({
        MOCK_HOST: '127.0.0.1',
        MOCK_RESEND_PORT: String(resendPort),
        MOCK_POSTMARK_PORT: String(postmarkPort),
      })
      .withWaitStrategy(Wait.forLogMessage(/mock postmark listening/))
      .withStartupTimeout(60_000)
      .start(),
  ]);
  // One that started while the other failed would outlive the suite (Ryuk is off): stop it first.
  const stopStarted = () =>
    Promise.all(started.map((s) => s.status === 'fulfilled' ? s.value.stop().catch(() => {}) : undefined));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await stopStarted();
    throw failed.reason;
  }
  const [temporal, mocksContainer] = started.map((s) => (s as PromiseFulfilledResult<StartedTestContainer>).value) as [
    StartedTestContainer,
    StartedTestContainer,
  ];
  const temporalAddress = `127.0.0.1:${temporalPort}`;
  await eventually(
    async () => {
      const connection = await Connection.connect({ address: temporalAddress, connectTimeout: '2s' });
      try {
        await connection.healthService.check({});
        return true;
      } finally {
        await connection.close();
      }
    },
    60_000,
    500,
  ).catch(async (err) => {
    await stopStarted();
    throw err;
  });
  const backend = await startBackendMock();
  return {
    temporal,
    temporalAddress,
    mocksContainer,
    mocks: new MockProvidersClient(`http://127.0.0.1:${resendPort}`, `http://127.0.0.1:${postmarkPort}`),
    backend,
    async close() {
      await backend.close();
      await Promise.all([temporal.stop(), mocksContainer.stop()]);
    },
  };
}

/** Service is one running service container (bridge + worker) and a client for it. */
export interface Service {
  container: StartedTestContainer;
  grpcPort: number;
  env: Record<string, string>;
  newsletters: Clients['newsletters'];
  stop(): Promise<void>;
}

/** serviceEnv is the configuration of a service container against deps, with overrides. */
export async function serviceEnv(deps: Deps, overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  const [grpcPort, bridgeOps, workerOps] = await Promise.all([freePort(), freePort(), freePort()]);
  return testServiceEnv(
    {
      temporalAddress: deps.temporalAddress,
      resendUrl: deps.mocks.resendUrl,
      postmarkUrl: deps.mocks.postmarkUrl,
      backendUrl: deps.backend.url,
    },
    {
      TEMPORAL_SERVER_PORT: String(grpcPort),
      BRIDGE_OPS_PORT: String(bridgeOps),
      WORKER_OPS_PORT: String(workerOps),
      TEMPORAL_TASK_QUEUE: 'newsletters',
      LOG_LEVEL: 'warn',
      ...overrides,
    },
  );
}

/**
 * HardenedContainer runs an image as docker-compose.yml runs the service (scripts/check-compose.sh
 * checks that file): read-only root filesystem, a small writable /tmp, no capabilities, no
 * privilege escalation. Testcontainers has no option for the read-only root; the subclass sets it.
 */
class HardenedContainer extends GenericContainer {
  constructor(image: string) {
    super(image);
    this.hostConfig.ReadonlyRootfs = true;
    this.withTmpFs({ '/tmp': 'rw,size=64m' })
      .withDroppedCapabilities('ALL')
      .withSecurityOpt('no-new-privileges:true');
  }
}

/** startService runs the service image, hardened as in compose, with env and waits until its worker polls. */
export async function startService(env: Record<string, string>): Promise<Service> {
  const container = await new HardenedContainer(IMAGES.service)
    .withNetworkMode('host')
    .withEnvironment({ ...env, LOG_LEVEL: 'info' })
    .withWaitStrategy(Wait.forLogMessage(/worker polling/))
    .withStartupTimeout(120_000)
    .start();
  const grpcPort = Number(env.TEMPORAL_SERVER_PORT);
  const clients = connectClients(grpcPort);
  return {
    container,
    grpcPort,
    env,
    newsletters: clients.newsletters,
    async stop() {
      clients.close();
      await container.stop();
    },
  };
}

/** useStack registers the enclosing suite's before/after hooks: dependencies plus one service container. */
export function useStack(overrides: Record<string, string> = {}): { deps: Deps; service: Service } {
  const stack = {} as { deps: Deps; service: Service };
  before(async () => {
    stack.deps = await startDeps();
    stack.service = await startService(await serviceEnv(stack.deps, overrides));
  });
  after(async () => {
    await stack.service?.stop();
    await stack.deps?.close();
  });
  return stack;
}
