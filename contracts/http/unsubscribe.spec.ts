import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { unsubscribeToken, verifyUnsubscribeLink } from './unsubscribe.ts';

const link = (params: Record<string, string>) => `https://app.example.com/unsubscribe?${new URLSearchParams(params)}`;

describe('signed unsubscribe links', () => {
  const fields = { newsletterId: 'weekly-42', recipientId: 'u-7', email: 'ada@example.com' };
  const token = unsubscribeToken('current-secret', fields);
  const params = { newsletter_id: 'weekly-42', recipient_id: 'u-7', email: 'ada@example.com', token };

  it('verifies a link the service signed, and says whom it unsubscribes', () => {
    assert.deepEqual(verifyUnsubscribeLink({ url: link(params), secrets: ['current-secret'] }), {
      ok: true,
      ...fields,
    });
  });

  it("verifies the path and query a request handler has (Node's req.url), not only a whole URL", () => {
    const path = `/unsubscribe?${new URLSearchParams(params)}`;
    assert.deepEqual(verifyUnsubscribeLink({ url: path, secrets: ['current-secret'] }), { ok: true, ...fields });
  });

  it('refuses a link whose address or ids were edited: nobody unsubscribes someone else', () => {
    for (const edited of [{ email: 'victim@example.com' }, { recipient_id: 'u-8' }, { newsletter_id: 'other' }]) {
      assert.deepEqual(verifyUnsubscribeLink({ url: link({ ...params, ...edited }), secrets: ['current-secret'] }), {
        ok: false,
        reason: 'mismatch',
      });
    }
    const { recipient_id: _, ...withoutId } = params;
    assert.equal(verifyUnsubscribeLink({ url: link(withoutId), secrets: ['current-secret'] }).ok, false);
  });

  it('accepts a link signed with the previous secret during a rotation, and says what is missing', () => {
    assert.equal(verifyUnsubscribeLink({ url: link(params), secrets: ['next-secret', 'current-secret'] }).ok, true);
    const { token: __, ...unsigned } = params;
    assert.deepEqual(verifyUnsubscribeLink({ url: link(unsigned), secrets: ['current-secret'] }), {
      ok: false,
      reason: 'missing',
    });
    assert.deepEqual(verifyUnsubscribeLink({ url: link({ ...params, email: '' }), secrets: ['current-secret'] }), {
      ok: false,
      reason: 'missing',
    });
  });

  it('signs as the contract tells other languages to: HMAC-SHA256 of "v1\\n<newsletter_id>\\n<recipient_id>\\n<email>", base64url', () => {
    // Known answers (computed once, by hand, from the documented format): a frontend in another language checks these.
    assert.equal(unsubscribeToken('current-secret', fields), 'EmDaNwRr7NXnLNcZaGVe2cWjBEZgoe7FYTit4GdgirM');
    assert.equal(
      unsubscribeToken('current-secret', { newsletterId: 'weekly-42', email: 'ada@example.com' }),
      'VA7BxJ3rAScdaBX1ch99Pg7dwqVs6WoTvZqBetC-dL0',
      'no recipient_id: an empty line',
    );
  });

  it('signs a recipient without a recipient_id too', () => {
    const bare = { newsletterId: 'weekly-42', email: 'bob@example.com' };
    const url = link({ newsletter_id: 'weekly-42', email: 'bob@example.com', token: unsubscribeToken('s', bare) });
    assert.deepEqual(verifyUnsubscribeLink({ url, secrets: ['s'] }), { ok: true, ...bare });
  });
});
