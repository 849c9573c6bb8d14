/**
 * Validation of SendNewsletter requests into the workflow's NewsletterInput. Every
 * violation names its field ("recipients[3].email: not an email address").
 */
import type { SendNewsletterRequest } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { Timestamp } from '../../contracts/gen/google/protobuf/timestamp.ts';
import { Buffer } from 'node:buffer';
import { gzipSync } from 'node:zlib';
import { CONTROL_CHARACTERS, fromElsewhere, isEmailAddress, isMailbox, mailbox } from '../domain/addresses.ts';
import { METADATA_FIELDS } from '../domain/events.ts';
import { checkTemplates, TemplateError } from '../domain/templating.ts';
import {
  batchSizeFor,
  MAX_BODY_BYTES,
  MAX_INLINE_RECIPIENTS,
  MAX_INPUT_BYTES,
  MAX_RECIPIENT_ID,
  type NewsletterInput,
  type OutagePolicy,
  PROVIDER_MAX_MESSAGE_BYTES,
  type ProviderName,
  TEXT_PART_MAX_HTML_CHARS,
} from '../domain/types.ts';
import { InvalidArgumentError } from './errors.ts';
import { MAX_DECODED_BYTES } from '../data-converter.ts';

const NEWSLETTER_ID = /^[A-Za-z0-9_-]{1,128}$/;
// Resend accepts only these characters in tag names and values.
const TAG = /^[A-Za-z0-9_-]{1,256}$/;
/** MAX_TAGS leaves Postmark's 10 metadata fields room for the service's own 3. */
const MAX_TAGS = 7;
/** RESERVED_TAGS are the service's own tag and metadata names (lowercase). */
const RESERVED_TAGS: readonly string[] = Object.values(METADATA_FIELDS);
const MAX_VIOLATIONS = 10;

/** A send_at may lag the clock by this much (skew, a slow call) and still mean "now". */
const SEND_AT_PAST_MS = 60_000;
const SEND_AT_AHEAD_MS = 366 * 24 * 3_600_000;

/** MAX_INPUT_JSON_BYTES bounds the input as JSON: half what a worker unpacks (MAX_DECODED_BYTES), for a margin. */
const MAX_INPUT_JSON_BYTES = MAX_DECODED_BYTES / 2;

/**
 * sendAtProblem says what is wrong with a send_at, if anything: it must be a real time, at
 * most a minute past (then it means now) and at most a year ahead.
 */
export function sendAtProblem(sendAt: Timestamp, now = Date.now()): string | undefined {
  // From the fields, not Timestamp.toDate: that throws on seconds beyond a safe number.
  const at = Number(sendAt.seconds) * 1000 + Math.floor(sendAt.nanos / 1e6);
  const valid = Number.isSafeInteger(Number(sendAt.seconds)) && !Number.isNaN(new Date(at).getTime()) &&
    sendAt.nanos >= 0 && sendAt.nanos <= 999_999_999;
  if (!valid) return 'send_at: not a valid time';
  if (at < now - SEND_AT_PAST_MS) return `send_at: ${new Date(at).toISOString()} is in the past`;
  if (at > now + SEND_AT_AHEAD_MS) return `send_at: ${new Date(at).toISOString()} is more than a year ahead`;
  return undefined;
}

/** isNewsletterId says whether id is one: [A-Za-z0-9_-]{1,128}. */
export const isNewsletterId = (id: string): boolean => NEWSLETTER_ID.test(id);

/** validateNewsletterId throws InvalidArgumentError unless id is [A-Za-z0-9_-]{1,128}. */
export function validateNewsletterId(id: string, field = 'newsletter_id'): void {
  if (!NEWSLETTER_ID.test(id)) throw new InvalidArgumentError([`${field}: must match [A-Za-z0-9_-]{1,128}`]);
}

/** DeliveryDefaults are the server-side settings a request is completed with. */
export interface DeliveryDefaults {
  fromEmail: string;
  batchSize: number;
  concurrency: number;
  primaryProvider: ProviderName;
  frontendUrl: string;
  /** backendLists is true when BACKEND_URL is set: only then can recipients be paged from the backend. */
  backendLists: boolean;
  outage: OutagePolicy;
  /** fromDomains are the only domains a from_email may have (FROM_DOMAINS; empty: any). */
  fromDomains: readonly string[];
}

/** EMAIL_OVERHEAD_BYTES covers what an email carries besides its templates: addresses, headers, tags, JSON. */
const EMAIL_OVERHEAD_BYTES = 2_048;

/** emailBytesEstimate is about how large one rendered email of this request is, before variables. */
function emailBytesEstimate(req: SendNewsletterRequest): number {
  return Buffer.byteLength(req.subject) + Buffer.byteLength(req.htmlContent) + Buffer.byteLength(req.textContent) +
    EMAIL_OVERHEAD_BYTES;
}

/** toNewsletterInput validates a request and builds the workflow input, or throws InvalidArgumentError with every violation (up to 10). */
export function toNewsletterInput(req: SendNewsletterRequest, defaults: DeliveryDefaults): NewsletterInput {
  const violations: string[] = [];
  const violate = (message: string) => violations.length < MAX_VIOLATIONS && violations.push(message);

  if (!NEWSLETTER_ID.test(req.newsletterId)) violate('newsletter_id: must match [A-Za-z0-9_-]{1,128}');
  if (!req.subject.trim()) violate('subject: required');
  if (CONTROL_CHARACTERS.test(req.subject)) {
    violate('subject: must not contain control characters (CR, LF, NUL, ...): a header cannot hold them');
  }
  if (!req.htmlContent && !req.textContent) {
    violate('html_content: at least one of html_content and text_content is required');
  }
  for (const [field, body] of [['html_content', req.htmlContent], ['text_content', req.textContent]] as const) {
    const bytes = Buffer.byteLength(body);
    if (bytes > MAX_BODY_BYTES) {
      violate(`${field}: ${bytes} bytes, over the ${MAX_BODY_BYTES} a provider accepts per body (Postmark: 5 MB)`);
    }
  }
  // The primary provider sends it: its per-message limit holds. (On a failover to a stricter
  // one, the emails over its limit fail there, each with its reason.)
  const emailBytes = emailBytesEstimate(req);
  const maxEmail = PROVIDER_MAX_MESSAGE_BYTES[defaults.primaryProvider];
  if (emailBytes > maxEmail) {
    violate(
      `html_content, text_content: ${emailBytes} bytes with the subject and headers, over the ${maxEmail} one email may carry at ${defaults.primaryProvider}, the primary provider`,
    );
  }
  const from = req.fromEmail.trim() || defaults.fromEmail;
  const oneMailbox = 'one address, or "Name <address>"; a name with , ; : @ must be quoted';
  if (!isMailbox(from)) violate(`from_email: not an email address (${oneMailbox})`);
  else {
    const elsewhere = fromElsewhere(from, defaults.fromDomains);
    if (elsewhere) violate(`from_email: ${elsewhere}`);
  }
  if (req.replyTo && !isMailbox(req.replyTo)) violate(`reply_to: not an email address (${oneMailbox})`);
  const tags = Object.entries(req.tags);
  // Postmark keeps 10 metadata fields per email (3 are the service's own), names of at most 20
  // characters, values of at most 80, names unique whatever their case: beyond that it refuses
  // every email, and a newsletter failing over to it would fail whole.
  if (tags.length > MAX_TAGS) violate(`tags: at most ${MAX_TAGS} (got ${tags.length})`);
  const seen = new Map<string, string>();
  for (const [key, value] of tags) {
    const name = JSON.stringify(key.slice(0, 64)).slice(1, -1);
    const first = seen.get(key.toLowerCase());
    if (!TAG.test(key) || !TAG.test(value)) violate(`tags[${name}]: names and values must match [A-Za-z0-9_-]`);
    else if (key.length > 20 || value.length > 80) {
      violate(`tags[${name}]: names at most 20 characters and values at most 80 (Postmark's metadata limits)`);
    } else if (RESERVED_TAGS.includes(key.toLowerCase())) violate(`tags[${name}]: reserved (the service's own)`);
    else if (first !== undefined) {
      violate(`tags[${name}]: the same name as tags[${first}] whatever the case (Postmark)`);
    }
    seen.set(key.toLowerCase(), name);
  }

  const sendAtIssue = req.sendAt ? sendAtProblem(req.sendAt) : undefined;
  if (sendAtIssue) violate(sendAtIssue);

  const listId = req.recipientSource?.source.oneofKind === 'backendList'
    ? req.recipientSource.source.backendList.listId
    : undefined;
  if (req.recipientSource && listId === undefined) {
    violate('recipient_source: one source is required (backend_list)');
  } else if (listId !== undefined) {
    if (!NEWSLETTER_ID.test(listId)) violate('recipient_source.backend_list.list_id: must match [A-Za-z0-9_-]{1,128}');
    if (req.recipients.length > 0) violate('recipients: must be empty when recipient_source is given');
    if (!defaults.backendLists) {
      violate('recipient_source.backend_list: this server has no BACKEND_URL to read recipient lists from');
    }
  } else if (req.recipients.length === 0) {
    violate('recipients: at least one recipient (or a recipient_source) is required');
  }
  if (req.recipients.length > MAX_INLINE_RECIPIENTS) {
    violate(`recipients: at most ${MAX_INLINE_RECIPIENTS} recipients per request (got ${req.recipients.length})`);
  } else {
    const seen = new Map<string, number>();
    req.recipients.forEach((r, i) => {
      const email = r.email.trim();
      if (!isEmailAddress(email)) {
        violate(`recipients[${i}].email: not an email address`);
        return;
      }
      if (r.recipientId.length > MAX_RECIPIENT_ID) {
        violate(`recipients[${i}].recipient_id: at most ${MAX_RECIPIENT_ID} characters (got ${r.recipientId.length})`);
      }
      const first = seen.get(email.toLowerCase());
      if (first !== undefined) violate(`recipients[${i}].email: duplicate of recipients[${first}]`);
      else seen.set(email.toLowerCase(), i);
    });
  }

  try {
    checkTemplates({ subject: req.subject, html: req.htmlContent || undefined, text: req.textContent || undefined });
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    violate(err.message);
  }
  if (violations.length > 0) throw new InvalidArgumentError(violations);

  const input: NewsletterInput = {
    newsletterId: req.newsletterId,
    content: {
      subject: req.subject,
      html: req.htmlContent || undefined,
      text: req.textContent || undefined,
      from: mailbox(from),
      replyTo: req.replyTo ? mailbox(req.replyTo) : undefined,
      tags: { ...req.tags },
    },
    recipients: req.recipients.map((r) => ({
      email: r.email.trim(),
      name: r.name,
      variables: { ...r.variables },
      recipientId: r.recipientId,
    })),
    ...(listId !== undefined ? { listId } : {}),
    // One batch is one request to the primary provider: its count and byte limits cap it (the
    // estimate is the templates' size, and an HTML-only one's text part, made from its HTML as
    // large at most; variables beyond it make the activity split a request).
    batchSize: batchSizeFor(
      defaults.primaryProvider,
      emailBytes +
        (!req.textContent && req.htmlContent.length <= TEXT_PART_MAX_HTML_CHARS
          ? Buffer.byteLength(req.htmlContent)
          : 0),
      defaults.batchSize,
    ),
    concurrency: defaults.concurrency,
    primaryProvider: defaults.primaryProvider,
    unsubscribeBaseUrl: defaults.frontendUrl,
    outage: defaults.outage,
    ...(req.sendAt ? { sendAt: Timestamp.toDate(req.sendAt).toISOString() } : {}),
  };
  // The input is stored gzip-compressed (src/data-converter.ts): that is what Temporal's payload limit sees.
  // A worker unpacks it to JSON again, and refuses more than MAX_DECODED_BYTES: text that grows
  // when written as JSON (control characters take 6 bytes) could pass the first and fail the second.
  const json = JSON.stringify(input);
  const jsonBytes = Buffer.byteLength(json);
  if (jsonBytes > MAX_INPUT_JSON_BYTES) {
    throw new InvalidArgumentError([
      `recipients, html_content, text_content: ${jsonBytes} bytes once written as JSON (control characters take 6 bytes each), over ${MAX_INPUT_JSON_BYTES}; page large lists from the backend with recipient_source`,
    ]);
  }
  const bytes = gzipSync(json).length;
  if (bytes > MAX_INPUT_BYTES) {
    throw new InvalidArgumentError([
      `recipients: request too large for one workflow input (${bytes} compressed bytes of recipients and templates, limit ${MAX_INPUT_BYTES}); page large lists from the backend with recipient_source`,
    ]);
  }
  return input;
}
