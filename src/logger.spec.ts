import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { context, trace } from '@opentelemetry/api';
import { createLogger, prettyStream } from './logger.ts';
import { setupTracing } from './telemetry/tracing.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { lines, logger: createLogger('info', 'test', stream) };
}

describe('createLogger', () => {
  it('writes JSON lines and never the keys or tokens it is handed', () => {
    const { lines, logger } = capture();
    logger.child({ newsletter_id: 'n1', provider: 'resend' }).info({
      apiKey: 're_secret',
      config: { apiKey: 'pm_secret', internalServiceToken: 'tok_secret' },
      request: { headers: { authorization: 'Bearer tok_secret' } },
    }, 'hello');
    const text = JSON.stringify(lines);
    assert.equal(lines[0]!.newsletter_id, 'n1');
    assert.equal(lines[0]!.msg, 'hello');
    for (const secret of ['re_secret', 'pm_secret', 'tok_secret']) {
      assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
    }
  });

  it('stamps the active trace id on every line', () => {
    setupTracing({ serviceName: 'test', otlp: false });
    const { lines, logger } = capture();
    const spanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
    context.with(trace.setSpanContext(context.active(), spanContext), () => logger.info('inside'));
    logger.info('outside');
    assert.equal(lines[0]!.trace_id, spanContext.traceId);
    assert.equal(lines[1]!.trace_id, undefined);
  });

  it('writes one readable line per entry for a terminal, still without secrets, coloured only when asked', () => {
    const write = (colorize: boolean) => {
      let text = '';
      const sink = new Writable({
        write(chunk, _encoding, done) {
          text += String(chunk);
          done();
        },
      });
      createLogger('info', 'test', prettyStream(colorize, sink))
        .child({ newsletter_id: 'n1' })
        .info({ apiKey: 're_secret' }, 'batch sent');
      return text;
    };
    const plain = write(false);
    assert.match(plain, /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: batch sent \{"newsletter_id":"n1",.*\}\n$/);
    assert.ok(!plain.includes('re_secret'), plain);
    assert.ok(!plain.includes('\x1b['), 'no colour codes when not on a terminal');
    assert.ok(write(true).includes('\x1b['), 'colour codes on a terminal');
  });
});
