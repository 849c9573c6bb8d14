/**
 * `make dev` as a user meets it: the dev orchestrator on free ports brings up Temporal,
 * the mock providers and the service; the README's buf curl call sends the sample
 * newsletter; the mock's inspection API shows the emails; SIGINT stops everything.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/ports.ts';
import { eventually } from '../support/eventually.ts';
import { temporalCli } from './harness.ts';

const run = promisify(execFile);

async function portAnswers(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) });
    return true;
  } catch (err) {
    return !String((err as { cause?: { code?: string } }).cause?.code).includes('ECONNREFUSED');
  }
}

type DevPorts = Record<
  'temporal' | 'ui' | 'grpc' | 'bridgeOps' | 'workerOps' | 'resend' | 'postmark' | 'webhooks',
  number
>;

async function devPorts(): Promise<DevPorts> {
  const [temporal, ui, grpc, bridgeOps, workerOps, resend, postmark, webhooks] = await Promise.all(
    Array.from({ length: 8 }, () => freePort('127.0.0.1')),
  ) as number[];
  return { temporal, ui, grpc, bridgeOps, workerOps, resend, postmark, webhooks } as DevPorts;
}

/** devEnv runs make dev on the given ports, with mock providers and no token. */
function devEnv({ temporal, ui, grpc, bridgeOps, workerOps, resend, postmark, webhooks }: DevPorts) {
  return {
    ...process.env,
    TEMPORAL_CLI: temporalCli(),
    TEMPORAL_ADDRESS: `127.0.0.1:${temporal}`,
    TEMPORAL_UI_PORT: String(ui),
    TEMPORAL_DB_FILE: join(mkdtempSync(join(tmpdir(), 'dev-test-')), 'temporal.db'),
    TEMPORAL_SERVER_PORT: String(grpc),
    BRIDGE_OPS_PORT: String(bridgeOps),
    WORKER_OPS_PORT: String(workerOps),
    MOCK_RESEND_PORT: String(resend),
    MOCK_POSTMARK_PORT: String(postmark),
    WEBHOOK_PORT: String(webhooks),
    RESEND_API_KEY: '',
    POSTMARK_API_KEY: '',
    INTERNAL_SERVICE_TOKEN: '',
    LOG_LEVEL: 'warn',
    LOG_FORMAT: '',
  };
}

describe('make dev', { timeout: 180_000 }, () => {
  let dev: ChildProcess | undefined;
  let output = '';
  after(() => {
    // If the test failed half-way, kill the whole group: dev.ts and the service it started, and the
    // Temporal server in its own group (they hold our stdout pipes open; the test process would never end).
    const temporalPid = /\[dev\] temporal pid (\d+)/.exec(output)?.[1];
    for (const group of [dev?.pid, temporalPid ? Number(temporalPid) : undefined]) {
      if (!group) continue;
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it('serves the sample newsletter from the README to the mock inbox and stops cleanly on Ctrl-C', async () => {
    const ports = await devPorts();
    const { temporal, grpc, bridgeOps, workerOps, resend, postmark } = ports;
    const child = spawn(process.execPath, [...process.execArgv, 'scripts/dev.ts'], {
      env: devEnv(ports),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so after() can clean up everything it started
    });
    dev = child;
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    await eventually(() => output.includes('[dev] ready'), 90_000, 250).catch((err) => {
      throw new Error(`${err.message}\n${output}`);
    });
    const health = await fetch(`http://127.0.0.1:${bridgeOps}/health`);
    assert.equal(health.status, 200);
    await eventually(async () => (await fetch(`http://127.0.0.1:${workerOps}/ready`)).status === 200, 30_000);

    const url = `http://127.0.0.1:${grpc}`;
    const curl = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge'];
    const grpcHealth = await run('buf', [...curl, '--data', '{}', `${url}/grpc.health.v1.Health/Check`]);
    assert.equal(JSON.parse(grpcHealth.stdout).status, 'SERVING');
    // The exact call the README and the dev banner document.
    await run('buf', [
      ...curl,
      '--data',
      '@scripts/sample-newsletter.json',
      `${url}/authentik.temporal.v1.NewsletterService/SendNewsletter`,
    ]);
    const sample = JSON.parse(readFileSync('scripts/sample-newsletter.json', 'utf8'));
    const emails = await eventually(async () => {
      const body = await (await fetch(`http://127.0.0.1:${resend}/__mock/emails`)).json() as {
        emails: Array<{ to: string[] }>;
      };
      return body.emails.length === sample.recipients.length ? body.emails : undefined;
    }, 30_000);
    assert.deepEqual(
      emails.map((e) => e.to[0]).sort(),
      sample.recipients.map((r: { email: string }) => r.email).sort(),
    );

    // The mocks' webhooks reach the service: the bounce the dev banner shows how to trigger is counted.
    const bounce = await fetch(`http://127.0.0.1:${resend}/__mock/events`, {
      method: 'POST',
      body: JSON.stringify({ kind: 'bounced', to: [sample.recipients[0].email] }),
    });
    assert.deepEqual(await bounce.json(), { statuses: [200] });
    await eventually(async () => {
      const { stdout } = await run('buf', [
        ...curl,
        '--data',
        JSON.stringify({ newsletter_id: sample.newsletter_id }),
        `${url}/authentik.temporal.v1.NewsletterService/GetNewsletterStatus`,
      ]);
      return JSON.parse(stdout).status.bounced === 1;
    }, 20_000);

    // The worker's one scrape target: delivery metrics with values, and Temporal Core's own.
    const metrics = await eventually(async () => {
      const text = await (await fetch(`http://127.0.0.1:${workerOps}/metrics`)).text();
      // Sent emails are counted as batches settle; the finished count follows with the final callback.
      const settled = /^newsletter_emails_total\{[^}]*provider="resend"[^}]*result="sent"[^}]*\} 3$/m.test(text);
      const finished = /^newsletter_newsletters_finished_total\{[^}]*state="COMPLETED"[^}]*\} 1$/m.test(text);
      return settled && finished ? text : undefined;
    }, 30_000);
    assert.match(metrics, /^newsletter_provider_call_duration_seconds_count\{[^}]*provider="resend"[^}]*\} [1-9]/m);
    assert.match(metrics, /^temporal_worker_task_slots_available\{/m);
    assert.match(metrics, /^temporal_activity_execution_latency_seconds_count\{/m);
    assert.match(metrics, /^process_cpu_seconds_total/m);
    const bridgeMetrics = await (await fetch(`http://127.0.0.1:${bridgeOps}/metrics`)).text();
    assert.match(
      bridgeMetrics,
      /^newsletter_grpc_server_handled_total\{[^}]*method="SendNewsletter"[^}]*code="OK"[^}]*\} 1$/m,
    );

    // A person reads this terminal: readable lines, no JSON, no webpack report (it is not a terminal here: no colours).
    assert.match(output, /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] WARN: INTERNAL_SERVICE_TOKEN is not set/m);
    assert.ok(!output.includes('{"level"'), 'no JSON log lines under make dev');
    assert.ok(!output.includes('\x1b['), 'no colour codes when the output is not a terminal');

    // A send in flight at Ctrl-C (the provider slow): the worker drains it, reporting to Temporal.
    await fetch(`http://127.0.0.1:${resend}/__mock/latency`, { method: 'POST', body: JSON.stringify({ ms: 3_000 }) });
    await run('buf', [
      ...curl,
      '--data',
      JSON.stringify({ ...sample, newsletter_id: 'dev-drain-1' }),
      `${url}/authentik.temporal.v1.NewsletterService/SendNewsletter`,
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // Ctrl-C in a terminal signals the whole foreground process group: Temporal must outlive the
    // service's drain (the service stops first, then Temporal), and then stop too.
    process.kill(-child.pid!, 'SIGINT');
    const seen: Array<{ temporal: boolean; service: boolean }> = [];
    while (child.exitCode === null && seen.length < 400) {
      const [t, s] = await Promise.all([portAnswers(temporal), portAnswers(workerOps)]);
      seen.push({ temporal: t, service: s });
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.ok(
      !seen.some((s) => s.service && !s.temporal),
      'Temporal stopped while the service still ran (it drains against Temporal)',
    );
    assert.equal(await exited, 0);
    for (const port of [temporal, grpc, bridgeOps, workerOps, resend, postmark]) {
      assert.equal(await portAnswers(port), false, `port ${port} still answers after Ctrl-C`);
    }
  });

  it('refuses to start, starting nothing, when a port it would serve on is already held', async () => {
    const ports = await devPorts();
    // Another process on the bridge's gRPC port (an earlier make dev, say): its answer must not pass for ours.
    // And one on the Temporal UI's port, which the dev server would die on, naming nothing.
    const holder = createServer().listen(ports.grpc, '127.0.0.1');
    const uiHolder = createServer().listen(ports.ui, '127.0.0.1');
    await Promise.all([once(holder, 'listening'), once(uiHolder, 'listening')]);
    try {
      const child = spawn(process.execPath, [...process.execArgv, 'scripts/dev.ts'], {
        env: devEnv(ports),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      dev = child;
      let said = '';
      child.stdout!.on('data', (d) => (said += d));
      child.stderr!.on('data', (d) => (said += d));
      const [code] = await once(child, 'exit');
      output += said;
      assert.equal(code, 1);
      assert.match(said, new RegExp(`already in use: 127\\.0\\.0\\.1:${ports.grpc} \\(TEMPORAL_SERVER_PORT\\)`));
      assert.match(said, new RegExp(`127\\.0\\.0\\.1:${ports.ui} \\(TEMPORAL_UI_PORT\\)`));
      assert.ok(!said.includes('WEBHOOK_PORT'), `only the ports held are named: ${said}`);
      assert.ok(!said.includes('[dev] ready'), said);
      assert.ok(!said.includes('starting Temporal'), `nothing starts: ${said}`);
      assert.equal(await portAnswers(ports.temporal), false, 'no Temporal server was started');
    } finally {
      holder.close();
      uiHolder.close();
    }
  });
});
