import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isEmailAddress, isMailbox, maskedError } from './addresses.ts';

describe('isEmailAddress', () => {
  it('refuses an address longer than SMTP carries: 254 characters in all, 64 before the @', () => {
    const domain = `${'d'.repeat(60)}.example.com`;
    const longest = `${'l'.repeat(64)}@${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(57)}.com`;
    assert.equal(longest.length, 254);
    assert.equal(isEmailAddress(longest), true);
    assert.equal(isEmailAddress(`x${longest}`), false, '255 characters');
    assert.equal(isEmailAddress(`${'l'.repeat(64)}@${domain}`), true);
    assert.equal(isEmailAddress(`${'l'.repeat(65)}@${domain}`), false, 'a local part of 65');
    assert.equal(isEmailAddress(`${'l'.repeat(5_000)}@example.com`), false);
    assert.equal(isMailbox(`News <${'l'.repeat(65)}@example.com>`), false);
  });
});

describe('isMailbox', () => {
  it('accepts one mailbox: an address, or a display name (plain or quoted) and an address', () => {
    assert.equal(isMailbox('news@example.com'), true);
    assert.equal(isMailbox('Authentik News <news@example.com>'), true);
    assert.equal(isMailbox('J. R. Smith <jr@example.com>'), true);
    assert.equal(isMailbox('"Acme, Inc." <news@example.com>'), true);
    assert.equal(isMailbox('"The \\"Best\\" News" <news@example.com>'), true);
    assert.equal(isMailbox('<news@example.com>'), true);
  });

  it('refuses what a mail client would read as more than one address, or a name posing as an address', () => {
    assert.equal(isMailbox('a@evil.test, Boss <ceo@corp.test>'), false);
    assert.equal(isMailbox('"x" a@evil.test; <ceo@corp.test>'), false);
    assert.equal(isMailbox('ceo@corp.test <me@evil.test>'), false);
    assert.equal(isMailbox('Team: a@evil.test; <ceo@corp.test>'), false);
    assert.equal(isMailbox('"unclosed <ceo@corp.test>'), false);
    assert.equal(isMailbox('a@evil.test, b@evil.test'), false);
    assert.equal(isMailbox('News <news@example.com>\r\nBcc: victim@evil.test'), false);
  });
});

describe('maskedError', () => {
  it("keeps an error's type, message, cause and stack with the addresses masked, and none of its other fields", () => {
    const err = Object.assign(new Error('refused ann@example.com', { cause: new Error('for bob@example.org') }), {
      type: 'ProviderRefused',
      details: [{ email: 'carl@example.net' }],
    });
    const masked = maskedError(err);
    assert.deepEqual(Object.keys(masked).sort(), ['cause', 'message', 'name', 'stack', 'type']);
    assert.deepEqual([masked.type, masked.message, masked.cause], [
      'ProviderRefused',
      'refused <address>',
      'for <address>',
    ]);
    assert.match(masked.stack, /^Error: refused <address>\n/);
    assert.ok(!JSON.stringify(masked).includes('@example'), JSON.stringify(masked));
  });

  it('reads a thrown value that is not an Error as its text, with no made-up stack', () => {
    const masked = maskedError('timed out for dan@example.com');
    assert.equal(masked.message, 'timed out for <address>');
    assert.equal(masked.stack, '');
  });
});
