import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyPostmarkCode, classifyPostmarkError, POSTMARK_FAILURES } from './errors.ts';

describe('classifyPostmarkError', () => {
  for (const { label, statusCode, errorCodes, failureClass } of POSTMARK_FAILURES) {
    it(`classifies ${label} as ${failureClass}`, () => {
      for (const code of errorCodes) {
        assert.equal(classifyPostmarkError(statusCode, code), failureClass, `code ${code}`);
      }
    });
  }

  it('classifies a batch element by its ErrorCode exactly as a whole call answered 422 with it', () => {
    for (const { statusCode, errorCodes, failureClass } of POSTMARK_FAILURES) {
      if (statusCode !== 422) continue;
      for (const code of errorCodes) assert.equal(classifyPostmarkCode(code), failureClass, `code ${code}`);
    }
  });
});
