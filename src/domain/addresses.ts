/**
 * Email address checks shared by the gRPC edge (inline recipients) and the send
 * activity (recipients paged from the backend).
 */
import { z } from 'zod';

const emailSchema = z.email();

/** MAX_ADDRESS and MAX_LOCAL_PART are SMTP's limits (RFC 5321 4.5.3.1; 254 with the path's brackets). */
const MAX_ADDRESS = 254;
const MAX_LOCAL_PART = 64;

/**
 * isEmailAddress says whether value is a syntactically valid address (no display name) that
 * SMTP can carry: a longer one is refused by every mail server, and on the suppression list
 * it would only take room from real ones.
 */
export function isEmailAddress(value: string): boolean {
  if (value.length > MAX_ADDRESS || value.indexOf('@') > MAX_LOCAL_PART) return false;
  return emailSchema.safeParse(value).success;
}

/**
 * CONTROL_CHARACTERS are C0 controls and DEL: in a header value (subject, From, Reply-To) a CR
 * or LF would start a header of the sender's choosing (`Hi\r\nBcc: victim@evil.test`).
 */
// deno-lint-ignore no-control-regex
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * DISPLAY_NAME is a display name as RFC 5322 has it: words free of the characters that would
 * start another address or group (`, ; : @ < > " \\ ( ) [ ]`), or one quoted string, where a
 * quote or backslash is escaped. Otherwise `a@evil.test, Boss <ceo@corp.test>` would pass as one
 * mailbox, and Reply-To would carry two.
 */
const DISPLAY_NAME = /^(?:[^,;:@<>"\\()[\]]*|"(?:[^"\\]|\\.)*")$/;

/** partsOf splits a mailbox into its display name (undefined for a bare address) and address, trimmed. */
function partsOf(value: string): { name?: string; address: string } {
  const match = /^([^<>]*)<([^<>]+)>$/.exec(value.trim());
  return match ? { name: match[1]!.trim(), address: match[2]!.trim() } : { address: value.trim() };
}

/** mailbox is a value isMailbox accepts as providers should get it: its parts without the whitespace around them. */
export function mailbox(value: string): string {
  const { name, address } = partsOf(value);
  return name ? `${name} <${address}>` : address;
}

/** domainOf is the domain of a mailbox's address, lower-cased (domains are case-insensitive). */
export function domainOf(value: string): string {
  const { address } = partsOf(value);
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * fromElsewhere says why a sender's domain is not one of those allowed (FROM_DOMAINS), or
 * undefined when it is (or when any domain goes: none listed).
 */
export function fromElsewhere(from: string, domains: readonly string[]): string | undefined {
  if (domains.length === 0 || domains.includes(domainOf(from))) return undefined;
  return `sends from ${domainOf(from)}, not one of FROM_DOMAINS (${domains.join(', ')}), which the providers verified`;
}

/**
 * isDomainName accepts a DNS name of two labels or more (letters, digits, inner hyphens, 63
 * characters a label, 253 in all), as a provider verifies one for sending.
 */
export function isDomainName(value: string): boolean {
  return value.length <= 253 &&
    /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(value);
}

/** isMailbox accepts an address or `Display Name <address>` (one mailbox), never with control characters. */
export function isMailbox(value: string): boolean {
  if (CONTROL_CHARACTERS.test(value)) return false;
  const { name, address } = partsOf(value);
  return (name === undefined || DISPLAY_NAME.test(name)) && isEmailAddress(address);
}

/** maskAddresses replaces anything shaped like an email address in text (a provider's words, a failure's) with `<address>`. */
export function maskAddresses(text: string): string {
  // The domain must look like a host name (labels, a dot, letters): `node_modules/@temporalio/…` in a stack
  // frame or `pkg@1.2.3` is none, and is kept.
  return text.replace(/[^\s<>@"',;:()[\]=/]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}/g, '<address>');
}

/** MaskedError is an error as logs and traces may show it. */
export interface MaskedError {
  name: string;
  /** type is an ApplicationFailure's type, else the name. */
  type: string;
  message: string;
  /** cause is its cause's message, when it has one. */
  cause?: string;
  stack: string;
}

/**
 * maskedError is an error's own words, addresses masked: never its other fields (an
 * ApplicationFailure's details: a failover's carry the recipients it settled, refused addresses
 * included). What log lines and spans show of an error.
 */
export function maskedError(err: unknown): MaskedError {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    name: e.name,
    type: (e as Error & { type?: string }).type ?? e.name,
    message: maskAddresses(e.message),
    ...(e.cause instanceof Error ? { cause: maskAddresses(e.cause.message) } : {}),
    // A thrown value that is no Error has no stack: none is made up here.
    stack: err instanceof Error ? maskAddresses(e.stack ?? '') : '',
  };
}
