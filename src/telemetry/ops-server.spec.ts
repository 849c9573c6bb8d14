import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchText, startOpsServer } from './ops-server.ts';

describe('the ops server', () => {
  it("serves Temporal Core's metrics with ours and says whether it could read them (newsletter_core_metrics_up)", async () => {
    let coreAnswers = true;
    const server = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      registry: new Registry(),
      ready: () => Promise.resolve(true),
      extraMetrics: () =>
        coreAnswers ? Promise.resolve('temporal_workflow_completed_total 3\n') : Promise.reject(new Error('refused')),
    });
    try {
      const scrape = async () => {
        const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
        assert.equal(response.status, 200);
        return await response.text();
      };
      const first = await scrape();
      assert.match(first, /^newsletter_core_metrics_up 1$/m);
      assert.match(first, /^temporal_workflow_completed_total 3$/m);
      coreAnswers = false;
      const second = await scrape();
      assert.match(second, /^newsletter_core_metrics_up 0$/m, 'ours still served, and the gap said');
      assert.doesNotMatch(second, /temporal_workflow_completed_total/);
    } finally {
      await server.close();
    }
  });

  it('reads another exposition, and fails on an answer that is not 2xx (it read as no metrics, and as up)', async () => {
    let status = 200;
    const core = createServer((_req, res) => res.writeHead(status).end(status === 200 ? 'temporal_up 1\n' : 'oops'));
    await new Promise<void>((resolve) => core.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(core.address() as AddressInfo).port}/metrics`;
      assert.equal(await fetchText(url), 'temporal_up 1\n');
      status = 500;
      await assert.rejects(fetchText(url), /answered 500/);
    } finally {
      core.close();
    }
  });

  it('gives up on an exposition that stalls mid-body after 2 s (a scrape never hangs on Temporal Core)', {
    timeout: 10_000,
  }, async () => {
    const core = createServer((_req, res) => res.writeHead(200).write('temporal_up 1\n'));
    await new Promise<void>((resolve) => core.listen(0, '127.0.0.1', resolve));
    try {
      await assert.rejects(
        fetchText(`http://127.0.0.1:${(core.address() as AddressInfo).port}/metrics`),
        (err: Error) => err.name === 'TimeoutError',
      );
    } finally {
      core.closeAllConnections();
      core.close();
    }
  });
});
