/**
 * The benchmark's table (no benchmark run): what it prints for runs that failed, and the
 * rate-limited figures.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

process.env.BENCH_ONLY = 'direct,ours,rate-limited,webhooks';
const { M, key, N_LARGE, N_SMALL, N_RATE, RATE, BATCH } = await import('./lib/settings.ts');
const { Report } = await import('./lib/report.ts');
const { buildReport } = await import('./table.ts');

const delivered = (n: number, toLastEmailMs: number) => ({
  n,
  emails: n,
  duplicates: 0,
  calls: Math.ceil(n / 100),
  byStatus: { '200': Math.ceil(n / 100) },
  toLastEmailMs,
});
const ran = (n: number, toLastEmailMs: number) => ({
  ...delivered(n, toLastEmailMs),
  newsletterId: 'n',
  sendNewsletterMs: 5,
  toFinalMs: toLastEmailMs + 10,
  state: 'COMPLETED',
  sent: n,
});

const rowsOf = () => {
  const report = new Report();
  buildReport(report);
  return report.rows;
};

describe('the benchmark table', () => {
  it('prints a ratio whose run timed out or failed as a MISS, and the exactly-once check too, never as "not run"', () => {
    for (const latency of [20, 200]) {
      for (const n of [N_SMALL, N_LARGE]) {
        M.direct[key(latency, n)] = { ...delivered(n, 1_000), elapsedMs: 1_000, errors: 0 };
      }
      M.ours[key(latency, N_SMALL)] = ran(N_SMALL, 1_200);
    }
    M.ours[key(200, N_LARGE)] = 'TIMEOUT';
    M.ours[key(20, N_LARGE)] = 'ERROR';
    const rows = rowsOf();
    const row = (measure: string) => rows.find((r) => r.measure === measure)!;
    assert.equal(row('200 ms, N=100k: ours ÷ direct').verdict, 'MISS');
    assert.equal(row('200 ms, N=100k: ours ÷ direct').shown, 'TIMEOUT');
    assert.equal(row('20 ms, N=100k: ours ÷ direct').shown, 'ERROR');
    assert.equal(row('200 ms, N=10k: ours ÷ direct').shown, '1.20');
    assert.equal(
      rows.find((r) => r.scenario === 'ours' && r.measure === 'every email accepted exactly once')!.verdict,
      'MISS',
    );
  });

  it("prints the rate-limited rate against the issue's R × batch and against what fixed one-second windows let through", () => {
    const calls = N_RATE / BATCH;
    // The best the mock allows: the last call in the window (calls / R - 1) s after the first, answered 20 ms later.
    const best = (Math.ceil(calls / RATE) - 1) * 1000 + 20;
    M.rateLimited = {
      ...ran(N_RATE, best),
      workers: 3,
      throttledInFirstSecond: 0,
      throttledLater: 0,
      throttledAtMs: [],
    };
    const rows = rowsOf();
    const value = (start: string) => rows.find((r) => r.measure.startsWith(start))!.value as number;
    assert.ok(value('achieved ÷ theoretical') > 1, 'fixed windows let a little more than R × batch through');
    assert.equal(Number(value('achieved ÷ the best').toFixed(3)), 1);
    // Three calls (a smoke run) fit in the first window: the best is one latency.
    M.rateLimited = { ...ran(300, 40), workers: 3, throttledInFirstSecond: 0, throttledLater: 0, throttledAtMs: [] };
    assert.equal(rowsOf().find((r) => r.measure.startsWith('achieved ÷ the best'))!.value, 0.5);
  });

  it('prints piled-up signals as a MISS when a workflow task failed or a worker went down, though all were counted', () => {
    const run = {
      n: 6_000,
      runs: 1,
      countedAfterStartMs: 7_400,
      countedAfterReadyMs: 5_100,
      longestTaskMs: 5_070,
      completedTasks: 2,
      decidedAgain: 1,
      failedTasks: [],
      workerUp: true,
    };
    const verdictOf = () => rowsOf().find((r) => r.measure.startsWith('no workflow task failed'))!.verdict;
    M.webhooks.piledUp = run;
    assert.equal(verdictOf(), 'PASS');
    assert.equal(rowsOf().find((r) => r.measure.startsWith('all counted'))!.shown, '7.40 / 5.10 s');
    M.webhooks.piledUp = { ...run, failedTasks: ['timed out after 10000 ms'] };
    assert.equal(verdictOf(), 'MISS');
    M.webhooks.piledUp = { ...run, workerUp: false };
    assert.equal(verdictOf(), 'MISS');
    M.webhooks.piledUp = 'ERROR';
    assert.equal(verdictOf(), 'MISS');
  });
});
