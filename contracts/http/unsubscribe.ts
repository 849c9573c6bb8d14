/**
 * Signed unsubscribe links. Every email's `List-Unsubscribe` header (RFC 8058 one-click: the
 * frontend answers a POST to it) and `{{unsubscribe_url}}` point at
 *
 *     {FRONTEND_URL}/unsubscribe?newsletter_id=…[&recipient_id=…]&email=…&token=…
 *
 * where `token`, when the service has `UNSUBSCRIBE_SIGNING_SECRET`, is the base64url
 * HMAC-SHA256, keyed by it, of `"v1\n<newsletter_id>\n<recipient_id or empty>\n<email>"`.
 * Unsigned, anyone could unsubscribe anyone by editing the address of their own link. The
 * frontend (or the backend behind it) checks a link with `verifyUnsubscribeLink` before it
 * unsubscribes anyone; other languages follow the three lines of `unsubscribeToken`. Emails
 * keep their links for years: rotate this secret rarely, and verify with the old one too.
 */
import { Buffer } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';

/** UnsubscribeFields are what a link unsubscribes: an address, from one newsletter's list (and its recipient id). */
export interface UnsubscribeFields {
  newsletterId: string;
  recipientId?: string;
  email: string;
}

/** unsubscribeToken is the `token` of the link for these fields, keyed by secret. */
export function unsubscribeToken(secret: string, fields: UnsubscribeFields): string {
  const signed = `v1\n${fields.newsletterId}\n${fields.recipientId ?? ''}\n${fields.email}`;
  return createHmac('sha256', secret).update(signed).digest('base64url');
}

/** UnsubscribeCheck is the verdict of verifyUnsubscribeLink: whom to unsubscribe, or why not. */
export type UnsubscribeCheck =
  | ({ ok: true } & UnsubscribeFields)
  | { ok: false; reason: 'missing' | 'mismatch' };

/**
 * verifyUnsubscribeLink checks a link (its URL, the path and query a request handler has, or its
 * query parameters) against `secrets` (the current and the previous ones), in constant time.
 */
export function verifyUnsubscribeLink(input: {
  url: string | URL | URLSearchParams;
  secrets: readonly string[];
}): UnsubscribeCheck {
  // Only the query counts: a path with no origin (Node's req.url) is read against any base.
  const params = input.url instanceof URLSearchParams
    ? input.url
    : new URL(input.url, 'http://unsubscribe.invalid').searchParams;
  const newsletterId = params.get('newsletter_id');
  const email = params.get('email');
  const token = params.get('token');
  const recipientId = params.get('recipient_id') || undefined;
  if (!newsletterId || !email || !token) return { ok: false, reason: 'missing' };
  const fields: UnsubscribeFields = { newsletterId, ...(recipientId ? { recipientId } : {}), email };
  const given = Buffer.from(token, 'base64url');
  let matched = false;
  for (const secret of input.secrets) {
    const expected = Buffer.from(unsubscribeToken(secret, fields), 'base64url');
    if (expected.length === given.length && timingSafeEqual(expected, given)) matched = true;
  }
  return matched ? { ok: true, ...fields } : { ok: false, reason: 'mismatch' };
}
