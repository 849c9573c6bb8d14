import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { createLogger } from '../logger.ts';
import { compileOptions } from '@temporalio/worker/lib/runtime-options.js';
import { forwardSdkLogs, levelOf, temporalRuntimeOptions } from './temporal-runtime.ts';

describe("the Temporal SDK's log levels in ours", () => {
  it("keeps the SDK's level", () => {
    assert.equal(levelOf('WARN', 'Activity failed'), 'warn');
    assert.equal(levelOf('ERROR', 'Worker failed'), 'error');
    assert.equal(levelOf('INFO', 'Worker state changed'), 'info');
    assert.equal(levelOf('TRACE', 'poll'), 'trace');
  });

  it("logs the start-up notes about the provider queues' layout at debug, not as warnings", () => {
    assert.equal(levelOf('WARN', 'No workflows registered, not polling for workflow tasks'), 'debug');
    assert.equal(levelOf('INFO', 'No Nexus services registered, not polling for Nexus tasks'), 'debug');
  });
});

describe("the Temporal SDK's log entries in ours", () => {
  it("writes a failed activity's error with its type and message, never its details, addresses masked", () => {
    const lines: string[] = [];
    const forward = forwardSdkLogs(createLogger('debug', 'test', { write: (line: string) => void lines.push(line) }));
    // A failover as send-batch.ts throws it: its details carry the recipients the attempt settled.
    const failover = ApplicationFailure.create({
      type: 'ProviderUnavailable',
      message: "resend refused 1 message: 300: Invalid 'To' address: 'alice@example.com'",
      nonRetryable: true,
      details: [{ settled: { failures: [{ email: 'bob@example.com', reason: 'bounced' }] } }],
      cause: new Error('answered for carol@example.com'),
    });
    forward({ level: 'WARN', message: 'Activity failed', meta: { error: failover, activityType: 'sendBatch' } });
    forward({ level: 'WARN', message: 'Activity failed', meta: { error: new Error('backend answered 503') } });
    const [first, second] = lines.map((line) => JSON.parse(line));
    assert.equal(first.error.type, 'ProviderUnavailable');
    assert.match(first.error.message, /Invalid 'To' address: '<address>'/);
    assert.equal(first.error.cause, 'answered for <address>');
    assert.equal(first.activityType, 'sendBatch');
    assert.equal(first.level, 40);
    assert.ok(!lines[0]!.includes('example.com'), lines[0]);
    assert.match(first.error.stack, /@temporalio/, 'stack frames are kept as they are');
    assert.equal(second.error.message, 'backend answered 503', 'a plain error keeps its message');
  });
});

describe("Temporal Core's lines in ours", () => {
  it('masks addresses in the text of every line, as Core quotes commands and small payloads whole at debug', () => {
    const lines: string[] = [];
    const forward = forwardSdkLogs(createLogger('debug', 'test', { write: (line: string) => void lines.push(line) }));
    forward({
      level: 'DEBUG',
      message: 'Sending activation: signal with [ann@example.com]',
      meta: { sdkComponent: 'core', command: 'ScheduleActivity { input: "bob@example.org" }', attempt: 2 },
    });
    const line = JSON.parse(lines[0]!);
    assert.equal(line.msg, 'Sending activation: signal with [<address>]');
    assert.equal(line.command, 'ScheduleActivity { input: "<address>" }');
    assert.equal(line.attempt, 2);
    assert.ok(!lines[0]!.includes('@example'), lines[0]);
  });
});

describe('the Temporal runtime', () => {
  it("forwards Core's own log lines to our logger, instead of Core printing its text to the console", () => {
    const options = temporalRuntimeOptions(createLogger('silent'), 'info', '127.0.0.1:0');
    const compiled = compileOptions(options);
    assert.equal(compiled.runtimeOptions.logExporter.type, 'forward');
    assert.equal(compiled.runtimeOptions.metricsExporter?.type, 'prometheus', 'metrics as before');
  });

  it('lets Core log at debug when LOG_LEVEL asks for debug, and keeps it to warnings (or errors) otherwise', () => {
    const coreFilter = (level: string) => {
      const { logExporter } = compileOptions(temporalRuntimeOptions(createLogger('silent'), level)).runtimeOptions;
      return (logExporter as { filter: string }).filter.match(/temporalio_sdk_core=(\w+)/)?.[1];
    };
    assert.deepEqual(
      ['trace', 'debug', 'info', 'warn', 'error', 'silent'].map(coreFilter),
      ['TRACE', 'DEBUG', 'WARN', 'WARN', 'ERROR', 'ERROR'],
    );
  });
});
