import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyResendError, RESEND_FAILURES } from './errors.ts';

describe('classifyResendError', () => {
  for (const { label, call, failureClass } of RESEND_FAILURES) {
    if (!call) continue;
    it(`classifies ${label} as ${failureClass}`, () => {
      assert.equal(classifyResendError(call.statusCode, call.name), failureClass);
    });
  }

  it('treats an answer it does not know (404 from a wrong base URL) as this provider being unavailable', () => {
    assert.equal(classifyResendError(404, 'not_found'), 'provider_unavailable');
  });
});
