import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthenticator } from './auth.ts';
import { UnauthenticatedError } from './errors.ts';

describe('createAuthenticator', () => {
  const check = createAuthenticator('s3cret');

  it('accepts the configured bearer token', () => {
    assert.doesNotThrow(() => check('Bearer s3cret'));
    assert.doesNotThrow(() => check(['bearer s3cret']));
  });

  it('rejects a missing, malformed or wrong token without echoing it', () => {
    for (const header of [undefined, '', 's3cret', 'Basic s3cret', 'Bearer s3cre', 'Bearer s3cret2']) {
      assert.throws(
        () => check(header),
        (err: unknown) => err instanceof UnauthenticatedError && !err.message.includes('s3cret'),
      );
    }
  });

  it('lets every call through when no token is configured', () => {
    assert.doesNotThrow(() => createAuthenticator(undefined)(undefined));
  });
});
