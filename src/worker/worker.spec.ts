import { describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import type { Worker } from '@temporalio/worker';
import { loadConfig } from '../config.ts';
import { backendWarnings, createWorker, NewsletterWorkers } from './worker.ts';
import { createLogger } from '../logger.ts';

/** fakeWorker runs until shut down, draining for drainMs, or fails when told to. */
function fakeWorker(drainMs: number) {
  let state: ReturnType<Worker['getState']> = 'RUNNING';
  let stop!: () => void;
  let fail!: (err: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    stop = resolve;
    fail = reject;
  });
  return {
    worker: {
      run: () => done,
      getState: () => state,
      shutdown: () => {
        state = 'DRAINING';
        setTimeout(() => {
          state = 'STOPPED';
          stop();
        }, drainMs);
      },
    } as unknown as Worker,
    fail: (err: Error) => {
      state = 'FAILED';
      fail(err);
    },
    state: () => state,
  };
}

describe('NewsletterWorkers', () => {
  it('drains the other workers when one fails, and ends (with its error) only once they have stopped', async () => {
    const failing = fakeWorker(0);
    const others = [fakeWorker(200), fakeWorker(300)];
    const workers = new NewsletterWorkers([failing.worker, ...others.map((o) => o.worker)]);
    const running = workers.run();
    failing.fail(new Error('fatal core error'));
    await assert.rejects(running, /fatal core error/);
    // The process closes its connection and exits after this: nothing may still be draining.
    assert.deepEqual(others.map((o) => o.state()), ['STOPPED', 'STOPPED']);
  });
});

describe('createWorker', () => {
  it('refuses to start a --role=all process in production without UNSUBSCRIBE_SIGNING_SECRET, before its bridge serves', () => {
    const run = spawnSync(process.execPath, [...process.execArgv, 'src/main.ts', '--role=all'], {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        INTERNAL_SERVICE_TOKEN: 'a-token',
        FRONTEND_URL: 'https://app.example.com',
        RESEND_API_KEY: 're_test',
        TEMPORAL_SERVER_PORT: '0',
        BRIDGE_OPS_PORT: '0',
        WORKER_OPS_PORT: '0',
        WEBHOOK_PORT: '0',
        TEMPORAL_ADDRESS: '127.0.0.1:1',
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    const said = run.stdout + run.stderr;
    assert.equal(run.status, 1, said);
    assert.match(said, /UNSUBSCRIBE_SIGNING_SECRET is required when NODE_ENV=production/);
    assert.ok(!said.includes('gRPC bridge listening'), said);
  });

  it('refuses to start in production without UNSUBSCRIBE_SIGNING_SECRET: every link would be unsigned', async () => {
    const config = loadConfig({ NODE_ENV: 'production', RESEND_API_KEY: 're_test' });
    await assert.rejects(
      createWorker({ config, connection: undefined as never, logger: createLogger('silent') }),
      /UNSUBSCRIBE_SIGNING_SECRET is required when NODE_ENV=production/,
    );
  });
});

describe('backendWarnings', () => {
  it('warns of a backend without a token (it would refuse every call) and of one in clear in production', () => {
    const warnings = (env: Record<string, string>) => backendWarnings(loadConfig(env)).join('\n');
    assert.match(warnings({}), /BACKEND_URL is not set/);
    const tokenless = warnings({ BACKEND_URL: 'https://backend.example', CALLBACK_SIGNING_SECRET: 's'.repeat(32) });
    assert.match(tokenless, /INTERNAL_SERVICE_TOKEN is not set/);
    const configured = {
      BACKEND_URL: 'https://backend.example',
      CALLBACK_SIGNING_SECRET: 's'.repeat(32),
      INTERNAL_SERVICE_TOKEN: 't'.repeat(32),
    };
    assert.equal(warnings(configured), '');
    assert.match(
      warnings({ ...configured, BACKEND_URL: 'http://backend.internal', NODE_ENV: 'production' }),
      /plain http/,
    );
    assert.equal(warnings({ ...configured, BACKEND_URL: 'http://127.0.0.1:8000', NODE_ENV: 'production' }), '');
  });
});
