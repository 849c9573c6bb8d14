/**
 * Signed callbacks: every request with a body (the POST callbacks) authentik-temporal-server
 * sends the backend carries (page reads, GET with no body, carry the bearer token only)
 *
 *     X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">[,v1=<...>]
 *
 * keyed by `CALLBACK_SIGNING_SECRET` (and, while a secret is being rotated, a second `v1`
 * keyed by `CALLBACK_SIGNING_SECRET_PREVIOUS`). The backend verifies it with
 * `verifySignature` (constant-time, 5-minute tolerance): importable as is from TypeScript
 * under Node or Deno; other languages follow the four lines of `sign`.
 */
import { Buffer } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';

/** SIGNATURE_HEADER is the header that carries the signature. */
export const SIGNATURE_HEADER = 'X-Signature';

/** DEFAULT_TOLERANCE_SECONDS is how far a signature's time may be from the verifier's clock. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const hmac = (secret: string, timestamp: number, body: string | Uint8Array): string =>
  createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');

/** signatureHeader signs body at unix time `timestamp` with every secret given (current first). */
export function signatureHeader(
  body: string | Uint8Array,
  secrets: readonly string[],
  timestamp = Math.floor(Date.now() / 1000),
): string {
  if (secrets.length === 0) throw new RangeError('at least one signing secret is required');
  return [`t=${timestamp}`, ...secrets.map((secret) => `v1=${hmac(secret, timestamp, body)}`)].join(',');
}

/** SignatureCheck is the verdict of verifySignature, with why when it fails (never the secret). */
export type SignatureCheck =
  | { ok: true; timestamp: number }
  | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'mismatch' };

/**
 * verifySignature checks an X-Signature header against the raw body, accepting a signature by
 * any of `secrets` (the current and, during a rotation, the previous one), in constant time,
 * made within `toleranceSeconds` of `now` (unix seconds).
 */
export function verifySignature(input: {
  header: string | null | undefined;
  body: string | Uint8Array;
  secrets: readonly string[];
  toleranceSeconds?: number;
  now?: number;
}): SignatureCheck {
  if (!input.header) return { ok: false, reason: 'missing' };
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of input.header.split(',')) {
    const [key, value] = part.trim().split('=', 2);
    if (key === 't' && value && /^\d+$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && value && /^[0-9a-f]{64}$/.test(value)) signatures.push(value);
  }
  if (timestamp === undefined || signatures.length === 0) return { ok: false, reason: 'malformed' };
  const now = input.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) {
    return { ok: false, reason: 'expired' };
  }
  let matched = false;
  for (const secret of input.secrets) {
    const expected = Buffer.from(hmac(secret, timestamp, input.body), 'hex');
    for (const signature of signatures) {
      // Every pair is compared (no early exit), each in constant time.
      if (timingSafeEqual(expected, Buffer.from(signature, 'hex'))) matched = true;
    }
  }
  return matched ? { ok: true, timestamp } : { ok: false, reason: 'mismatch' };
}
