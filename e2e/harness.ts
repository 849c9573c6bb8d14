/**
 * The e2e harness: Testcontainers for Node starting the images `make e2e` builds — a
 * Temporal dev server, the mock providers, and the service itself (a container from the
 * service image, as operators run it: this is what the restart suite kills). Containers
 * use host network mode bound to 127.0.0.1 with ports chosen free per run, so suites run
 * repeatedly and test traffic stays on loopback. The backend stand-in runs in the test
 * process; the tests talk to the bridge with the generated gRPC client.
 */
import { after, before } from 'node:test';
import { ChannelCredentials } from '@grpc/grpc-js';
import { GrpcTransport } from '@protobuf-ts/grpc-transport';
import { Connection } from '@temporalio/client';
import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { NewsletterState } from '../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { NewsletterServiceClient } from '../contracts/gen/authentik/temporal/v1/newsletter.client.ts';
import { type BackendMock, startBackendMock } from '../test/integration/backend-mock.ts';
import { eventually } from '../test/integration/eventually.ts';
import { freePort as freePortOn } from '../src/telemetry/ops-server.ts';
import { MockProvidersClient } from './mock-client.ts';

export { eventually };

/** IMAGES are the tags `make e2e` builds. */
export const IMAGES = {
  service: process.env.E2E_SERVICE_IMAGE ?? 'authentik-temporal-server:e2e',
  temporal: process.env.E2E_TEMPORAL_IMAGE ?? 'authentik-temporal-dev:e2e',
  mocks: process.env.E2E_MOCK_IMAGE ?? 'authentik-mock-providers:e2e',
};

/** TOKEN is the service's INTERNAL_SERVICE_TOKEN in every suite. */
export const TOKEN = 'e2e-token';

/** freePort asks the OS for a free loopback port. */
export const freePort = (): Promise<number> => freePortOn('127.0.0.1');

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
    Array.from({ length: 5 }, freePort),
  );
  const [temporal, mocksContainer] = await Promise.all([
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
  );
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
  newsletters: NewsletterServiceClient;
  stop(): Promise<void>;
}

/** serviceEnv is the configuration of a service container against deps, with overrides. */
export async function serviceEnv(deps: Deps, overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  const [grpcPort, bridgeOps, workerOps] = await Promise.all([freePort(), freePort(), freePort()]);
  return {
    GRPC_HOST: '127.0.0.1',
    TEMPORAL_SERVER_PORT: String(grpcPort),
    BRIDGE_OPS_PORT: String(bridgeOps),
    WORKER_OPS_PORT: String(workerOps),
    TEMPORAL_ADDRESS: deps.temporalAddress,
    TEMPORAL_TASK_QUEUE: 'newsletters',
    RESEND_API_KEY: 're_e2e',
    RESEND_BASE_URL: deps.mocks.resendUrl,
    POSTMARK_API_KEY: 'postmark-e2e',
    POSTMARK_BASE_URL: deps.mocks.postmarkUrl,
    BACKEND_URL: deps.backend.url,
    FRONTEND_URL: 'https://app.authentik.example',
    INTERNAL_SERVICE_TOKEN: TOKEN,
    LOG_LEVEL: 'warn',
    ...overrides,
  };
}

/** startService runs the service image with env and waits until its worker polls. */
export async function startService(env: Record<string, string>): Promise<Service> {
  const container = await new GenericContainer(IMAGES.service)
    .withNetworkMode('host')
    .withEnvironment({ ...env, LOG_LEVEL: 'info' })
    .withWaitStrategy(Wait.forLogMessage(/worker polling/))
    .withStartupTimeout(120_000)
    .start();
  const grpcPort = Number(env.TEMPORAL_SERVER_PORT);
  const transport = new GrpcTransport({
    host: `127.0.0.1:${grpcPort}`,
    channelCredentials: ChannelCredentials.createInsecure(),
  });
  return {
    container,
    grpcPort,
    env,
    newsletters: new NewsletterServiceClient(transport),
    async stop() {
      transport.close();
      await container.stop();
    },
  };
}

/** auth is the call option with the service's bearer token. */
export const auth = { meta: { authorization: `Bearer ${TOKEN}` } };

/** recipients makes n distinct recipients. */
export function recipients(n: number, prefix: string) {
  return Array.from({ length: n }, (_, i) => ({
    email: `${prefix}${i}@example.com`,
    name: `${prefix} ${i}`,
    variables: {},
    recipientId: `${prefix}-${i}`,
  }));
}

/** newsletter builds a SendNewsletter request. */
export function newsletter(newsletterId: string, list: ReturnType<typeof recipients>) {
  return {
    newsletterId,
    subject: 'Hello {{name}}',
    htmlContent: '<p>Hello {{name}}</p>',
    textContent: '',
    fromEmail: '',
    replyTo: '',
    recipients: list,
    tags: {},
  };
}

const FINAL = [
  NewsletterState.COMPLETED,
  NewsletterState.COMPLETED_WITH_FAILURES,
  NewsletterState.CANCELLED,
  NewsletterState.FAILED,
];

/** finalStatus waits for the newsletter to reach a final state. */
export async function finalStatus(service: Service, newsletterId: string, timeoutMs = 180_000) {
  return await eventually(
    async () => {
      const { response } = await service.newsletters.getNewsletterStatus({ newsletterId }, auth);
      return FINAL.includes(response.status!.state) ? response.status! : undefined;
    },
    timeoutMs,
    500,
  );
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
