import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SendNewsletterRequest } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { InvalidArgumentError } from './errors.ts';
import { Timestamp } from '../../contracts/gen/google/protobuf/timestamp.ts';
import { type DeliveryDefaults, sendAtProblem, toNewsletterInput } from './validation.ts';

const defaults: DeliveryDefaults = {
  fromEmail: 'news@example.com',
  batchSize: 500,
  concurrency: 5,
  primaryProvider: 'resend',
  frontendUrl: 'https://app.example.com',
  backendLists: true,
  outage: { retryMaxMs: 600_000, giveUpAfterMs: 43_200_000 },
  fromDomains: [],
};

const request = (extra: Partial<SendNewsletterRequest> = {}): SendNewsletterRequest => ({
  newsletterId: 'n1',
  subject: 'Hi',
  htmlContent: '<p>Hi</p>',
  textContent: '',
  fromEmail: '',
  replyTo: '',
  recipients: [{ email: 'a@example.com', name: 'A', variables: {}, recipientId: 'a' }],
  tags: {},
  ...extra,
});

const fromList = { recipientSource: { source: { oneofKind: 'backendList' as const, backendList: { listId: 'all' } } } };

describe('toNewsletterInput', () => {
  it('refuses a recipient_id over 256 characters, naming the recipient: it rides in every failure and status', () => {
    const recipient = (recipientId: string) => ({ email: 'a@example.com', name: 'A', variables: {}, recipientId });
    assert.doesNotThrow(() => toNewsletterInput(request({ recipients: [recipient('r'.repeat(256))] }), defaults));
    assert.throws(
      () => toNewsletterInput(request({ recipients: [recipient('r'.repeat(257))] }), defaults),
      (err: unknown) =>
        err instanceof InvalidArgumentError &&
        /recipients\[0\]\.recipient_id: at most 256 characters/.test(err.message),
    );
  });

  it('caps the batch size at the primary provider request limit (Resend 100, Postmark 500)', () => {
    assert.equal(toNewsletterInput(request(), defaults).batchSize, 100);
    assert.equal(toNewsletterInput(request(), { ...defaults, primaryProvider: 'postmark' }).batchSize, 500);
  });

  it('takes a backend list instead of inline recipients', () => {
    const input = toNewsletterInput(request({ recipients: [], ...fromList }), defaults);
    assert.equal(input.listId, 'all');
    assert.deepEqual(input.recipients, []);
  });

  it('refuses a backend list when the server has no BACKEND_URL to read it from', () => {
    assert.throws(
      () => toNewsletterInput(request({ recipients: [], ...fromList }), { ...defaults, backendLists: false }),
      (err) =>
        err instanceof InvalidArgumentError &&
        /recipient_source\.backend_list: this server has no BACKEND_URL/.test(err.message),
    );
  });

  it('measures the size limit on the input as stored (compressed), so repetitive lists fit', () => {
    const recipients = Array.from({ length: 10_000 }, (_, i) => ({
      email: `user${i}@example.com`,
      name: `User number ${i} of the Authentik community newsletter`,
      variables: { plan: 'professional', city: 'Berlin', company: 'Authentik Security', index: String(i) },
      recipientId: `user-${i}`,
    }));
    assert.ok(JSON.stringify(recipients).length > 1_572_864, 'larger than the limit uncompressed');
    assert.equal(toNewsletterInput(request({ recipients }), defaults).recipients.length, 10_000);
  });

  it('refuses an input that compresses well but is over what a worker unpacks once written as JSON: it would never start', () => {
    // 12 MiB of control characters: 6 bytes each in JSON, 110 KB compressed.
    const variables = { blob: '\u0001'.repeat(12 * 1024 * 1024) };
    assert.throws(
      () =>
        toNewsletterInput(
          request({ recipients: [{ email: 'a@example.com', name: 'A', variables, recipientId: 'a' }] }),
          defaults,
        ),
      (err: unknown) =>
        err instanceof InvalidArgumentError &&
        /recipients, html_content, text_content: \d+ bytes once written as JSON .*over 33554432/.test(err.message),
    );
  });

  it('refuses a from_email outside FROM_DOMAINS, naming the domains: the providers would refuse it as unverified and wait out an outage', () => {
    const only = { ...defaults, fromDomains: ['example.com', 'news.example.org'] };
    assert.equal(
      toNewsletterInput(request({ fromEmail: 'News <hi@Example.COM>' }), only).content.from,
      'News <hi@Example.COM>',
    );
    assert.equal(
      toNewsletterInput(request({ fromEmail: 'hi@news.example.org' }), only).content.from,
      'hi@news.example.org',
    );
    for (const fromEmail of ['hi@example.net', 'hi@sub.example.com', 'hi@example.com.evil.test']) {
      assert.throws(
        () => toNewsletterInput(request({ fromEmail }), only),
        (err: unknown) =>
          err instanceof InvalidArgumentError &&
          /from_email: sends from [a-z.]+, not one of FROM_DOMAINS \(example\.com, news\.example\.org\)/.test(
            err.message,
          ),
        fromEmail,
      );
    }
    // Without FROM_DOMAINS any domain goes: the providers decide.
    assert.equal(toNewsletterInput(request({ fromEmail: 'hi@example.net' }), defaults).content.from, 'hi@example.net');
  });

  it('stores from_email and reply_to as checked: without the whitespace (Unicode too) the check ignored around their parts', () => {
    const input = toNewsletterInput(
      request({ fromEmail: ' News < news@example.com\u00a0>', replyTo: '\ufeff reply@example.com\u2028' }),
      defaults,
    );
    assert.deepEqual([input.content.from, input.content.replyTo], ['News <news@example.com>', 'reply@example.com']);
  });

  it('refuses bodies that together are over what one email may carry at the primary provider: every email would fail there', () => {
    const half = 'x'.repeat(5 * 1024 * 1024);
    const postmarkFirst = { ...defaults, primaryProvider: 'postmark' as const };
    assert.throws(
      () => toNewsletterInput(request({ htmlContent: half, textContent: half }), postmarkFirst),
      (err: unknown) =>
        err instanceof InvalidArgumentError &&
        /html_content, text_content: \d+ bytes with the subject and headers, over the \d+ one email may carry at postmark/
          .test(
            err.message,
          ),
    );
    assert.doesNotThrow(() => toNewsletterInput(request({ htmlContent: half, textContent: 'short' }), postmarkFirst));
    // Resend takes 40 MB an email.
    assert.doesNotThrow(() => toNewsletterInput(request({ htmlContent: half, textContent: half }), defaults));
  });

  it('refuses a body over the 5 MB a provider accepts, naming the field and its size', () => {
    const big = 'x'.repeat(5 * 1024 * 1024 + 1);
    assert.throws(
      () => toNewsletterInput(request({ htmlContent: big }), defaults),
      /html_content: 5242881 bytes, over the 5242880 a provider accepts per body/,
    );
  });

  it('cuts batches by bytes as well as count: a 1 MB template makes requests of at most 40 MB to Resend', () => {
    const html = 'x'.repeat(1024 * 1024);
    const withText = toNewsletterInput(request({ htmlContent: html, textContent: 'x' }), {
      ...defaults,
      batchSize: 100,
    });
    assert.equal(withText.batchSize, 39);
    // HTML only: the text part made from it (as large at most) counts too.
    const htmlOnly = toNewsletterInput(request({ htmlContent: html }), { ...defaults, batchSize: 100 });
    assert.equal(htmlOnly.batchSize, 19);
    assert.equal(toNewsletterInput(request(), { ...defaults, batchSize: 100 }).batchSize, 100);
  });

  it('refuses CR, LF and NUL in the subject, the sender and the reply-to: no header can be injected', () => {
    const messages = (extra: Partial<SendNewsletterRequest>) => {
      try {
        toNewsletterInput(request(extra), defaults);
      } catch (err) {
        assert.ok(err instanceof InvalidArgumentError);
        return err.message;
      }
      return 'accepted';
    };
    assert.match(messages({ subject: 'Hi\r\nBcc: victim@evil.test' }), /subject: must not contain control characters/);
    assert.match(messages({ subject: 'Hi\u0000' }), /subject: must not contain control characters/);
    assert.match(messages({ fromEmail: 'News\r\nBcc: victim@evil.test <news@example.com>' }), /from_email/);
    assert.match(messages({ replyTo: 'a@example.com\nBcc: victim@evil.test' }), /reply_to/);
  });

  it("refuses tags that would make Postmark refuse every email on failover: too many, too long, or the service's own", () => {
    const refusal = (tags: Record<string, string>) => {
      try {
        toNewsletterInput(request({ tags }), defaults);
      } catch (err) {
        assert.ok(err instanceof InvalidArgumentError);
        return err.message;
      }
      return 'accepted';
    };
    const seven = Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`t${i}`, 'v']));
    assert.equal(refusal(seven), 'accepted');
    assert.equal(refusal({ ['n'.repeat(20)]: 'v'.repeat(80) }), 'accepted');
    assert.match(refusal({ ...seven, t7: 'v' }), /tags: at most 7/);
    assert.match(
      refusal({ ['n'.repeat(21)]: 'v' }),
      /tags\[n{21}\]: names at most 20 characters and values at most 80/,
    );
    assert.match(refusal({ campaign: 'v'.repeat(81) }), /tags\[campaign\]: names at most 20/);
    assert.match(refusal({ Newsletter_Id: 'x' }), /tags\[Newsletter_Id\]: reserved/);
    assert.match(refusal({ Campaign: 'a', campaign: 'b' }), /tags\[campaign\]: the same name as tags\[Campaign\]/);
  });

  it('schedules with send_at: a minute of lag means now; the past, a year ahead or a broken time are refused', () => {
    const now = Date.parse('2026-06-01T12:00:00Z');
    const at = (iso: string) => Timestamp.fromDate(new Date(iso));
    assert.equal(sendAtProblem(at('2026-06-01T11:59:30Z'), now), undefined);
    assert.equal(sendAtProblem(at('2027-05-31T12:00:00Z'), now), undefined);
    assert.match(sendAtProblem(at('2026-06-01T11:58:00Z'), now)!, /^send_at: 2026-06-01T11:58:00.000Z is in the past/);
    assert.match(sendAtProblem(at('2027-06-03T12:00:00Z'), now)!, /^send_at: .* more than a year ahead/);
    assert.match(sendAtProblem({ seconds: '1152921504606846976', nanos: 0 }, now)!, /^send_at: not a valid time/);
    const sendAt = Timestamp.fromDate(new Date(Date.now() + 3_600_000));
    assert.equal(toNewsletterInput(request({ sendAt }), defaults).sendAt, Timestamp.toDate(sendAt).toISOString());
    assert.equal(toNewsletterInput(request(), defaults).sendAt, undefined);
  });
});
