import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { inSpan, setupTracing } from './tracing.ts';

describe('inSpan', () => {
  it('records a failure on its span without the addresses its message names (a provider refusal may quote one)', async () => {
    const spans = new InMemorySpanExporter();
    setupTracing({ serviceName: 'test', otlp: false, exporter: spans });
    await assert.rejects(
      inSpan('provider request', {}, () => Promise.reject(new Error('422: cannot send to erin@example.com'))),
      /erin@example.com/,
      'the caller still gets the error as it was',
    );
    const [span] = spans.getFinishedSpans();
    assert.equal(span?.status.message, '422: cannot send to <address>');
    assert.equal(span?.events[0]?.attributes?.['exception.message'], '422: cannot send to <address>');
    assert.ok(!JSON.stringify(span?.events).includes('erin@'));
  });
});
