/**
 * `make bench`: how fast the service sends, against what a plain script and Temporal
 * itself manage on the same machine, and how it holds up at a million recipients, under a
 * provider rate limit and next to a big newsletter. See bench/README.md.
 *
 * Every figure is measured in this one run; ratios compare figures of the same run. Each
 * scenario has an upper bound (TIMEOUT rather than hang), the whole run a budget
 * (BENCH_BUDGET_MINUTES, 24). Every process binds to 127.0.0.1 and is killed at the end.
 */
import { fileURLToPath } from 'node:url';
import { startBenchBackend } from './lib/backend.ts';
import type { Context } from './lib/measure.ts';
import { killAll, round, stop } from './lib/procs.ts';
import { Report } from './lib/report.ts';
import {
  BATCH,
  BUDGET_MS,
  CONCURRENCY_1M,
  IN_FLIGHT,
  LATENCIES,
  log,
  M,
  PER_EMAIL_N,
  RATE,
  SCALE,
  SCENARIOS,
  wanted,
  WORKER_MEMORY,
} from './lib/settings.ts';
import { startMock, startTemporal } from './lib/stack.ts';
import { runDirect, runFloorAndPerEmail, runOneMillion, runOurs, runRateLimited, runWebhooks } from './scenarios.ts';
import { buildReport } from './table.ts';

const RESULTS = fileURLToPath(new URL('./results.json', import.meta.url));

async function main(): Promise<void> {
  const report = new Report();
  log(
    `scenarios: ${SCENARIOS.filter(wanted).join(', ')}; worker memory ${WORKER_MEMORY}; budget ${
      BUDGET_MS / 60_000
    } min; logs in bench/logs/`,
  );
  const mock = await startMock();
  const backend = await startBenchBackend();
  const ctx: Context = { mock, backend };
  const group = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      log(`${name}: ERROR ${(err as Error).stack ?? err}`);
    }
  };
  try {
    if (wanted('direct')) await group('direct', () => runDirect(ctx));
    if (wanted('ours') || wanted('floor') || wanted('per-email') || wanted('rate-limited') || wanted('webhooks')) {
      ctx.temporal = await startTemporal('temporal');
      try {
        if (wanted('ours')) await group('ours', () => runOurs(ctx));
        if (wanted('floor') || wanted('per-email')) await group('floor', () => runFloorAndPerEmail(ctx));
        if (wanted('rate-limited')) await group('rate-limited', () => runRateLimited(ctx));
        if (wanted('webhooks')) await group('webhooks', () => runWebhooks(ctx));
      } finally {
        await ctx.temporal.close();
      }
    }
    if (wanted('1m')) {
      // A fresh dev server: the big newsletter does not share it with the earlier runs' histories.
      ctx.temporal = await startTemporal('temporal-1m');
      try {
        await group('1m', () => runOneMillion(ctx));
      } finally {
        await ctx.temporal.close();
      }
    }
  } finally {
    await backend.close();
    await stop(mock.child);
  }
  buildReport(report);
  report.details['measurements'] = M;
  report.details['settings'] = {
    scale: SCALE,
    batchSize: BATCH,
    inFlight: IN_FLIGHT,
    latenciesMs: LATENCIES,
    perEmailN: PER_EMAIL_N,
    oneMillionConcurrency: CONCURRENCY_1M,
    rate: RATE,
  };
  report.write(RESULTS);
  console.log(report.table());
  log(`wrote ${RESULTS} (${round((Date.now() - report.started.getTime()) / 60_000, 1)} min)`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping every child process`);
    killAll();
    process.exit(130);
  });
}

try {
  await main();
} finally {
  killAll();
}
process.exit(0);
