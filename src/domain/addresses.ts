/**
 * Email address checks shared by the gRPC edge (inline recipients) and the send
 * activity (recipients paged from the backend).
 */
import { z } from 'zod';

const emailSchema = z.email();

/** isEmailAddress says whether value is a syntactically valid address (no display name). */
export function isEmailAddress(value: string): boolean {
  return emailSchema.safeParse(value).success;
}

/**
 * CONTROL_CHARACTERS are C0 controls and DEL: in a header value (subject, From, Reply-To) a CR
 * or LF would start a header of the sender's choosing (`Hi\r\nBcc: victim@evil.test`).
 */
// deno-lint-ignore no-control-regex
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** isMailbox accepts an address or `Display Name <address>`, never with control characters. */
export function isMailbox(value: string): boolean {
  if (CONTROL_CHARACTERS.test(value)) return false;
  const match = /^[^<>]*<([^<>]+)>$/.exec(value.trim());
  return isEmailAddress(match ? match[1]!.trim() : value.trim());
}
