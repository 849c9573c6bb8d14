/**
 * The observability config against a real Prometheus (Debian's package): promtool checks
 * the config and unit-tests the alerts; Prometheus scrapes the test's bridge and worker
 * with the repo's prometheus.yml; after a newsletter with a failover and a failed
 * recipient, every PromQL expression of the dashboards and alert rules must be valid and
 * return at least one series.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { freePort } from '../support/ports.ts';
import { eventually } from '../support/eventually.ts';
import { newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { type Stack, startStack } from './harness.ts';

const run = promisify(execFile);
const OBS = 'observability';

/** queries lists every PromQL expression of the dashboards and the alert rules, with where it comes from. */
function queries(): Array<{ where: string; expr: string }> {
  const found: Array<{ where: string; expr: string }> = [];
  for (const file of readdirSync(`${OBS}/grafana/dashboards`)) {
    const dashboard = JSON.parse(readFileSync(`${OBS}/grafana/dashboards/${file}`, 'utf8'));
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        found.push({ where: `${file} / ${panel.title}`, expr: target.expr.replaceAll('$__rate_interval', '1m') });
      }
    }
  }
  const rules = parse(readFileSync(`${OBS}/prometheus/alerts.yml`, 'utf8'));
  for (const group of rules.groups) {
    for (const rule of group.rules) {
      // A healthy run must not fire alerts: evaluate what they compare, not the comparison.
      const expr = rule.expr.replace(/\s*(==|!=|>=|<=|>|<)\s*-?\d+(\.\d+)?/g, '');
      found.push({ where: `alerts.yml / ${rule.alert}`, expr });
    }
  }
  return found;
}

describe('observability config against a real Prometheus', { timeout: 300_000 }, () => {
  let stack: Stack;
  let prometheus: ChildProcess | undefined;
  let api = '';

  before(async () => {
    stack = await startStack({ NEWSLETTER_BATCH_SIZE: '10', CIRCUIT_BREAKER_FAILURE_THRESHOLD: '100' });
    const dir = mkdtempSync(join(tmpdir(), 'prometheus-'));
    cpSync(`${OBS}/prometheus/alerts.yml`, join(dir, 'alerts.yml'));
    // The repo's config, pointed at this test's ports and scraping every second.
    const config = readFileSync(`${OBS}/prometheus/prometheus.yml`, 'utf8')
      .replace('127.0.0.1:9464', `127.0.0.1:${stack.ops.bridgePort}`)
      .replace('127.0.0.1:9465', `127.0.0.1:${stack.ops.workerPort}`)
      .replace(/scrape_interval: \S+/, 'scrape_interval: 1s')
      .replace(/evaluation_interval: \S+/, 'evaluation_interval: 1s');
    writeFileSync(join(dir, 'prometheus.yml'), config);
    const port = await freePort('127.0.0.1');
    api = `http://127.0.0.1:${port}/api/v1`;
    prometheus = spawn('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ], { stdio: 'ignore' });
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/-/ready`)).ok, 30_000);
  });
  after(async () => {
    prometheus?.kill('SIGTERM');
    await stack?.close();
  });

  const query = async (expr: string) => {
    const response = await fetch(`${api}/query?query=${encodeURIComponent(expr)}`);
    return await response.json() as { status: string; error?: string; data?: { result: unknown[] } };
  };

  it('passes promtool check config and the alert unit tests', async () => {
    await run('promtool', ['check', 'config', `${OBS}/prometheus/prometheus.yml`]);
    await run('promtool', ['test', 'rules', `${OBS}/prometheus/alerts.test.yml`]);
  });

  it('answers every dashboard and alert expression with series after a newsletter with a failover', async () => {
    stack.mock.resend.injectFault({ status: 503, count: 6 });
    const list = recipients(60, 'prom');
    stack.mock.postmark.failAddresses('invalid', [list[3]!.email]);
    stack.mock.resend.failAddresses('invalid', [list[3]!.email]);
    const id = newsletterId('prom');
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, list, { subject: 'Hi {{name}}', htmlContent: '', textContent: 'Hello {{name}}' }),
      stack.auth,
    );
    await eventually(async () => {
      const { response } = await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth);
      return response.status!.state === NewsletterState.COMPLETED_WITH_FAILURES;
    }, 120_000);
    // Prometheus has scraped the final counts (and a few more samples for rate windows).
    await eventually(async () => {
      const r = await query('sum(newsletter_newsletters_finished_total{state="COMPLETED_WITH_FAILURES"})');
      return (r.data?.result as Array<{ value: [number, string] }> | undefined)?.[0]?.value[1] === '1';
    }, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    const all = queries();
    assert.ok(all.length >= 20, `found only ${all.length} expressions`);
    const problems: string[] = [];
    for (const { where, expr } of all) {
      const r = await query(expr);
      if (r.status !== 'success') problems.push(`${where}: invalid: ${r.error}`);
      else if ((r.data?.result.length ?? 0) === 0) problems.push(`${where}: no series for ${expr}`);
    }
    assert.deepEqual(problems, []);
  });
});
