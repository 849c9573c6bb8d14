/**
 * Email address syntax as both providers accept it: `addr@example.com` or `Name <addr@example.com>`.
 * Deliberately stricter than RFC 5322 (no comments, no quoted local parts): the mock should reject
 * what the real APIs reject, and neither accepts those exotic forms in practice.
 */

const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN = /^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]$/;
const WITH_NAME = /^(.*?)\s*<([^<>]*)>$/;

/** isBareAddress reports whether a plain address (no display name) is syntactically valid. */
export function isBareAddress(value: string): boolean {
  if (value.length > 254) return false;
  const at = value.lastIndexOf('@');
  if (at <= 0) return false;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  return local.length <= 64 && LOCAL_PART.test(local) && DOMAIN.test(domain);
}

/** parseMailbox returns the lower-cased bare address of `addr` or `Name <addr>`, or null when the syntax is invalid. */
export function parseMailbox(value: string): string | null {
  const trimmed = value.trim();
  const named = WITH_NAME.exec(trimmed);
  const address = named ? named[2]!.trim() : trimmed;
  return isBareAddress(address) ? address.toLowerCase() : null;
}

/** splitAddressList splits a Postmark comma-separated list, keeping commas inside quotes or angle brackets. */
export function splitAddressList(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  let angle = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '<') angle = true;
    else if (!quoted && ch === '>') angle = false;
    if (ch === ',' && !quoted && !angle) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((part) => part.trim()).filter((part) => part !== '');
}
