import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { WorkflowNotFoundError } from '@temporalio/common';
import { InvalidArgumentError, MAX_DETAIL_CHARS, toRpcStatus } from './errors.ts';

/** temporalError is what the Temporal client throws for a status the server answered. */
function temporalError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
}

describe('toRpcStatus', () => {
  it('keeps what it tells the caller short, however long the input it names (gRPC trailers are small)', () => {
    const long = 'k'.repeat(100_000);
    for (
      const err of [
        new InvalidArgumentError([`tags[${long}]: names and values must match [A-Za-z0-9_-]{1,256}`]),
        new WorkflowNotFoundError('not found', long, undefined),
      ]
    ) {
      const { detail } = toRpcStatus(err);
      assert.ok(detail.length <= MAX_DETAIL_CHARS, `${detail.length} characters`);
      assert.match(detail, /…$/);
    }
  });

  it('never tells the caller half a character (grpc-js throws on one, from where nothing catches it: the process died)', () => {
    const wellFormed = (text: string) =>
      !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
    for (
      const err of [
        // Cut in the middle of an emoji at the length limit.
        new InvalidArgumentError([`${'x'.repeat(MAX_DETAIL_CHARS - 2)}😀😀`]),
        // A caller's lone surrogate echoed in the message.
        new InvalidArgumentError(['args_json: unknown key "\ud800"']),
      ]
    ) {
      const { detail } = toRpcStatus(err);
      assert.ok(wellFormed(detail), JSON.stringify(detail.slice(-8)));
      assert.doesNotThrow(() => encodeURI(detail));
    }
  });

  it('answers Temporal over its limits (RESOURCE_EXHAUSTED: a namespace rate limit) as UNAVAILABLE, to retry later, not INTERNAL', () => {
    const mapped = toRpcStatus(temporalError(GrpcStatus.RESOURCE_EXHAUSTED, 'namespace rate limit exceeded'));
    assert.deepEqual([mapped.code, mapped.internal], ['UNAVAILABLE', true]);
    assert.match(mapped.detail, /retry later/);
  });

  it('answers a query refused while the workflow task is failing (a busy worker timed one out) as UNAVAILABLE, not INTERNAL', () => {
    const refused = temporalError(
      GrpcStatus.FAILED_PRECONDITION,
      'Unable to query workflow due to Workflow Task in failed state.',
    );
    // As the Temporal client throws it: wrapped, the gRPC error as its cause.
    const mapped = toRpcStatus(new Error('Failed to query Workflow', { cause: refused }));
    assert.deepEqual([mapped.code, mapped.internal], ['UNAVAILABLE', true]);
    assert.match(mapped.detail, /retry later/);
    // Other preconditions Temporal refuses stay what they were.
    assert.equal(toRpcStatus(temporalError(GrpcStatus.FAILED_PRECONDITION, 'something else')).code, 'INTERNAL');
  });

  it("answers Temporal's own INVALID_ARGUMENT as INVALID_ARGUMENT with its reason, not INTERNAL", () => {
    const mapped = toRpcStatus(temporalError(GrpcStatus.INVALID_ARGUMENT, 'SignalName length exceeds limit.'));
    assert.deepEqual(mapped, {
      code: 'INVALID_ARGUMENT',
      detail: 'Temporal refused the request: SignalName length exceeds limit.',
      internal: false,
    });
  });
});
