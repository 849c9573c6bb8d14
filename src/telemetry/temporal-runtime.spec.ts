import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { levelOf } from './temporal-runtime.ts';

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
