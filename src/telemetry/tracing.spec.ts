import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import process from 'node:process';
import { Writable } from 'node:stream';
import { trace } from '@opentelemetry/api';
import { createLogger } from '../logger.ts';
import { setupTracing } from './tracing.ts';

describe('tracing', () => {
  it('logs a warning when spans cannot be exported, instead of dropping them in silence', async () => {
    // A collector that is not there (port 1 refuses connections).
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = 'http://127.0.0.1:1/v1/traces';
    process.env.OTEL_BSP_SCHEDULE_DELAY = '50';
    const lines: Array<{ level: number; msg: string }> = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const tracing = setupTracing({
      serviceName: 'test',
      otlp: true,
      resourceAttributes: { 'deployment.environment': 'prod', 'service.name': 'not this' },
      logger: createLogger('info', 'test', destination),
    });
    trace.getTracer('test').startSpan('lost').end();
    const warned = () => lines.filter((l) => l.level >= 40 && /opentelemetry/i.test(l.msg));
    for (let waited = 0; warned().length === 0 && waited < 5_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(warned().length > 0, 'a warning says the export failed');
    // Shutting down with the collector still away ends cleanly (it flushes what is left, and says so).
    trace.getTracer('test').startSpan('lost too').end();
    await tracing.shutdown();
  });

  it('puts OTEL_RESOURCE_ATTRIBUTES on every span besides the service name, which stays its own', () => {
    // setupTracing installs once per process: the first test's tracing is the one here.
    const tracing = setupTracing({ serviceName: 'ignored', otlp: false });
    assert.equal(tracing.resource.attributes['service.name'], 'test');
    assert.equal(tracing.resource.attributes['deployment.environment'], 'prod');
  });
});
