/**
 * `make dev` and `npm run dev`: the whole service on embedded defaults, for a laptop, with the
 * settings of `.env` when there is one (loaded by Node's --env-file; the environment wins).
 *   1. a Temporal dev server (SQLite in .data/, UI on 127.0.0.1:8233),
 *      unless one already answers on TEMPORAL_ADDRESS,
 *   2. the mock providers, when neither RESEND_API_KEY nor POSTMARK_API_KEY is set,
 *   3. the service (bridge + worker) from source.
 * Prints the endpoints and an example call. Ctrl-C stops everything it started.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { Buffer } from 'node:buffer';
import { startMockProviders } from '../mock-providers/server.ts';
import { serviceEnv } from '../test/support/service-env.ts';
import { devServerArgs } from '../test/support/temporal.ts';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// An empty variable (as config.example.env leaves most of them) means unset, as the service's config reads it;
// passed on empty, some children would take it for a value (the Temporal server refuses OTEL_TRACES_EXPORTER='').
const env: Record<string, string | undefined> = Object.fromEntries(
  Object.entries(process.env).filter(([, value]) => value !== ''),
);
const temporalAddress = env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const [temporalHost, temporalPort] = temporalAddress.split(':') as [string, string];
const grpcPort = env.TEMPORAL_SERVER_PORT ?? '50051';
const uiPort = env.TEMPORAL_UI_PORT ?? '8233';
const dbFile = env.TEMPORAL_DB_FILE ?? `${root}.data/temporal.db`;
const children: ChildProcess[] = [];
let stopping = false;

function log(message: string): void {
  console.log(`[dev] ${message}`);
}

/**
 * start runs a child; `detached` puts it in a process group of its own, out of reach of the
 * terminal's Ctrl-C (which signals the whole foreground group): it is stopped by stop(), in order.
 */
function start(
  name: string,
  command: string,
  args: string[],
  extraEnv: Record<string, string | undefined> = {},
  options: { detached?: boolean } = {},
): ChildProcess {
  const child = spawn(command, args, {
    cwd: root,
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: options.detached ?? false,
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      log(`${name} exited (${signal ?? code}); stopping everything`);
      void stop(1);
    }
  });
  children.push(child);
  return child;
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

async function waitForPort(host: string, port: number, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await portOpen(host, port))) {
    if (Date.now() > deadline) throw new Error(`${what} did not open ${host}:${port} within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

let closeMocks: (() => Promise<void>) | undefined;

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('stopping...');
  // The service first (it drains in-flight work), then Temporal.
  for (const child of [...children].reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGTERM');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Past the worker's 30 s drain (shutdownGraceTime), so in-flight sends finish.
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    await exited;
    clearTimeout(timer);
  }
  await closeMocks?.();
  log('stopped');
  process.exit(code);
}

// A second Ctrl-C does not wait for the drain: everything is killed at once.
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts += 1;
  if (interrupts > 1) {
    log('second Ctrl-C: killing everything now');
    process.exit(130);
  }
  void stop(0);
});
process.on('SIGTERM', () => void stop(0));
// The terminal closed: stop in order too (Temporal, in a group of its own, would not hear of it).
process.on('SIGHUP', () => void stop(0));
// However this process ends, nothing it started outlives it (Temporal is in a group of its own;
// a SIGKILL of this process leaves it running: `[dev] temporal pid` names it).
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/**
 * portsTaken names the ports this run would bind that something already holds: found before
 * anything starts, or the service would fail to bind after the banner said ready (its gRPC port
 * answered, held by the other process) and take everything down with it.
 */
async function portsTaken(mocks: boolean, temporal: boolean): Promise<string[]> {
  const host = env.GRPC_HOST ?? '127.0.0.1';
  const wanted: Array<[string, string]> = [
    ['TEMPORAL_SERVER_PORT', grpcPort],
    ['BRIDGE_OPS_PORT', env.BRIDGE_OPS_PORT ?? '9464'],
    ['WORKER_OPS_PORT', env.WORKER_OPS_PORT ?? '9465'],
    ['WEBHOOK_PORT', env.WEBHOOK_PORT ?? '9466'],
    // The dev server's UI, when this run starts the dev server (its gRPC port is TEMPORAL_ADDRESS's, checked apart).
    ...(temporal ? [['TEMPORAL_UI_PORT', uiPort]] as Array<[string, string]> : []),
    ...(mocks
      ? [['MOCK_RESEND_PORT', env.MOCK_RESEND_PORT ?? '4010'], ['MOCK_POSTMARK_PORT', env.MOCK_POSTMARK_PORT ?? '4011']]
      : []) as Array<[string, string]>,
  ];
  const open = await Promise.all(wanted.map(([, port]) => portOpen(host, Number(port))));
  return wanted.filter((_, i) => open[i]).map(([name, port]) => `${host}:${port} (${name})`);
}

async function main(): Promise<void> {
  const temporalAnswers = await portOpen(temporalHost, Number(temporalPort));
  const taken = await portsTaken(!env.RESEND_API_KEY && !env.POSTMARK_API_KEY, !temporalAnswers);
  if (taken.length > 0) {
    throw new Error(
      `already in use: ${taken.join(', ')}. Stop what holds it (another make dev?) or set the variable named ` +
        'to a free port (in .env).',
    );
  }
  if (temporalAnswers) {
    log(
      `a Temporal server already answers on ${temporalAddress}: using it (fairness and exact rates need the ` +
        'dynamic config make dev gives its own: test/support/temporal.ts)',
    );
  } else {
    const cli = execFileSync(`${root}scripts/temporal-cli.sh`, { encoding: 'utf8' }).trim();
    mkdirSync(`${root}.data`, { recursive: true });
    log(`starting Temporal dev server on ${temporalAddress} (UI http://127.0.0.1:${uiPort})`);
    start(
      'temporal',
      cli,
      [
        'server',
        'start-dev',
        '--ip',
        temporalHost,
        '--port',
        temporalPort,
        '--ui-ip',
        '127.0.0.1',
        '--ui-port',
        uiPort,
        '--db-filename',
        dbFile,
        '--log-level',
        'warn',
        ...devServerArgs(),
      ],
      {},
      { detached: true },
    );
    log(`temporal pid ${children.at(-1)!.pid} (its own process group)`);
    await waitForPort(temporalHost, Number(temporalPort), 'Temporal');
  }

  let mockEnv: Record<string, string> = {};
  let mockNote = '';
  if (!env.RESEND_API_KEY && !env.POSTMARK_API_KEY) {
    const mocks = await startMockProviders({
      resendPort: Number(env.MOCK_RESEND_PORT ?? 4010),
      postmarkPort: Number(env.MOCK_POSTMARK_PORT ?? 4011),
    });
    closeMocks = () => mocks.close();
    // The mocks send their webhooks to the service, as the real providers would once configured.
    const webhooks = `http://127.0.0.1:${env.WEBHOOK_PORT ?? 9466}/webhooks`;
    const secret = env.RESEND_WEBHOOK_SECRET ?? `whsec_${Buffer.from('make-dev-webhook-secret').toString('base64')}`;
    const postmark = {
      user: env.POSTMARK_WEBHOOK_USER ?? 'dev',
      password: env.POSTMARK_WEBHOOK_PASSWORD ?? 'dev-webhooks',
    };
    mocks.resend.setWebhook({ url: `${webhooks}/resend`, secret });
    mocks.postmark.setWebhook({ url: `${webhooks}/postmark`, ...postmark });
    mockEnv = {
      ...serviceEnv({ resendUrl: mocks.resendUrl, postmarkUrl: mocks.postmarkUrl }),
      RESEND_WEBHOOK_SECRET: secret,
      POSTMARK_WEBHOOK_USER: postmark.user,
      POSTMARK_WEBHOOK_PASSWORD: postmark.password,
    };
    mockNote = `mock Resend ${mocks.resendUrl}, mock Postmark ${mocks.postmarkUrl} (no API keys set)\n` +
      `  emails that would have gone out: curl -s ${mocks.resendUrl}/__mock/emails  |  curl -s ${mocks.postmarkUrl}/__mock/emails\n` +
      `  a bounce webhook for one of them: curl -s -d '{"kind":"bounced","to":["ada@example.com"]}' ${mocks.resendUrl}/__mock/events`;
  }

  start('service', process.execPath, [...process.execArgv, 'src/main.ts', '--role=all'], {
    TEMPORAL_ADDRESS: temporalAddress,
    // A person reads these logs: one readable line per entry (JSON when LOG_FORMAT=json is asked for).
    LOG_FORMAT: env.LOG_FORMAT || 'pretty',
    ...mockEnv,
  });
  await waitForPort(env.GRPC_HOST ?? '127.0.0.1', Number(grpcPort), 'the gRPC bridge');

  const sample = readFileSync(`${root}scripts/sample-newsletter.json`, 'utf8').trim();
  const auth = env.INTERNAL_SERVICE_TOKEN ? ` -H "authorization: Bearer $INTERNAL_SERVICE_TOKEN"` : '';
  console.log(`
[dev] ready
  gRPC bridge      127.0.0.1:${grpcPort} (reflection + grpc.health.v1)
  bridge ops       http://127.0.0.1:${env.BRIDGE_OPS_PORT ?? 9464}/health  /ready  /metrics
  worker ops       http://127.0.0.1:${env.WORKER_OPS_PORT ?? 9465}/health  /ready  /metrics
  Temporal         ${temporalAddress}  UI http://127.0.0.1:${uiPort}
  ${mockNote}

  send the sample newsletter:
    npx buf curl --protocol grpc --http2-prior-knowledge${auth} \\
      --data @scripts/sample-newsletter.json \\
      http://127.0.0.1:${grpcPort}/authentik.temporal.v1.NewsletterService/SendNewsletter
  (sample: ${sample.length} bytes in scripts/sample-newsletter.json)

  Ctrl-C stops everything started here.
`);
}

main().catch((err) => {
  console.error(`[dev] ${(err as Error).message}`);
  void stop(1);
});
