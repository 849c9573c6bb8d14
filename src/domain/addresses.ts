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

/** isMailbox accepts an address or `Display Name <address>`. */
export function isMailbox(value: string): boolean {
  const match = /^[^<>]*<([^<>]+)>$/.exec(value.trim());
  return isEmailAddress(match ? match[1]!.trim() : value.trim());
}
