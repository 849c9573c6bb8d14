/**
 * The mutable state of one mock provider (emails, calls, faults, latency, failing addresses,
 * rate limit, idempotency cache) and the validation of control input, shared by the
 * programmatic control and the HTTP control API so both accept exactly the same things.
 */

import type { CallRecord, Fault, MockProviderControl, MockProviderName, MockStats, ReceivedEmail } from './types.ts';
import { MOCK_EVENT_KINDS, type MockEventKind, post, webhookFor, type WebhookTarget } from './webhooks.ts';

const bareAddress = (to: string): string => /<([^>]+)>/.exec(to)?.[1] ?? to;

/** IDEMPOTENCY_TTL_MS is how long a Resend idempotency key is remembered (24 h, as documented by Resend). */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/** MockInputError is bad control input; the HTTP control API answers it with 400. */
export class MockInputError extends Error {
  override name = 'MockInputError';
}

/** StoredResponse is a response kept for idempotent replay. */
export interface StoredResponse {
  status: number;
  body: unknown;
}

/** IdempotencyLookup is what a request with an idempotency key finds in the cache. */
export type IdempotencyLookup =
  | { kind: 'new' }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'mismatch' }
  | { kind: 'in-flight' };

/** RateLimitDecision is the verdict of the rate limiter on one send call, with its header values. */
export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** resetSeconds is the whole seconds until the current window ends (at least 1). */
  resetSeconds: number;
}

/** AddressStatus is how a registered failing address should be treated. */
export type AddressStatus = 'inactive' | 'invalid';

interface ActiveFault {
  fault: Fault;
  remaining: number | null;
  expiresAt: number | null;
}

interface IdempotencyEntry {
  fingerprint: string;
  expiresAt: number;
  response: StoredResponse | null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalInteger(input: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new MockInputError(`${key} must be an integer between ${min} and ${max}`);
  }
  return value;
}

function optionalString(input: Record<string, unknown>, key: string): string | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') throw new MockInputError(`${key} must be a non-empty string`);
  return value;
}

/** parseFault validates a fault from untrusted input and returns a copy holding only known fields. */
export function parseFault(input: unknown): Fault {
  if (!isObject(input)) throw new MockInputError('a fault must be a JSON object');
  const status = optionalInteger(input, 'status', 400, 599);
  if (status === undefined) throw new MockInputError('status is required (400–599)');
  const fault: Fault = { status };
  const count = optionalInteger(input, 'count', 1, Number.MAX_SAFE_INTEGER);
  if (count !== undefined) fault.count = count;
  const durationMs = optionalInteger(input, 'durationMs', 1, Number.MAX_SAFE_INTEGER);
  if (durationMs !== undefined) fault.durationMs = durationMs;
  const errorName = optionalString(input, 'errorName');
  if (errorName !== undefined) fault.errorName = errorName;
  const errorCode = optionalInteger(input, 'errorCode', 0, Number.MAX_SAFE_INTEGER);
  if (errorCode !== undefined) fault.errorCode = errorCode;
  // retry-after carries delta-seconds, a whole number (RFC 9110).
  const retryAfterSeconds = optionalInteger(input, 'retryAfterSeconds', 0, Number.MAX_SAFE_INTEGER);
  if (retryAfterSeconds !== undefined) fault.retryAfterSeconds = retryAfterSeconds;
  const message = optionalString(input, 'message');
  if (message !== undefined) fault.message = message;
  return fault;
}

/** parseLatency validates a latency in milliseconds. */
export function parseLatency(ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > 600_000) {
    throw new MockInputError('ms must be a number between 0 and 600000');
  }
  return ms;
}

/** parseRateLimit validates a rate limit: a positive whole number of requests per second, or null for none. */
export function parseRateLimit(requestsPerSecond: unknown): number | null {
  if (requestsPerSecond === null) return null;
  if (typeof requestsPerSecond !== 'number' || !Number.isInteger(requestsPerSecond) || requestsPerSecond < 1) {
    throw new MockInputError('requestsPerSecond must be a positive integer or null');
  }
  return requestsPerSecond;
}

/** parseAddressKind validates the kind of a failing address registration. */
export function parseAddressKind(kind: unknown): AddressStatus {
  if (kind !== 'inactive' && kind !== 'invalid') throw new MockInputError("kind must be 'inactive' or 'invalid'");
  return kind;
}

/** parseEmailList validates a list of addresses to register as failing. */
export function parseEmailList(emails: unknown): string[] {
  if (!Array.isArray(emails) || !emails.every((email) => typeof email === 'string' && email.trim() !== '')) {
    throw new MockInputError('emails must be an array of non-empty strings');
  }
  return emails.map((email: string) => email.trim().toLowerCase());
}

/** ProviderState is the state of one mock provider; it is also that provider's MockProviderControl. */
export class ProviderState implements MockProviderControl {
  readonly provider: MockProviderName;
  #now: () => number;
  #emails: ReceivedEmail[] = [];
  #calls: CallRecord[] = [];
  #faults: ActiveFault[] = [];
  #latencyMs = 0;
  #addresses = new Map<string, AddressStatus>();
  #rateLimit: number | null = null;
  #window = { start: 0, count: 0 };
  #idempotency = new Map<string, IdempotencyEntry>();
  #keepBodies: boolean;
  #webhook: WebhookTarget | undefined;
  #searchDelayMs = 0;

  constructor(provider: MockProviderName, now: () => number = Date.now, options: { keepBodies?: boolean } = {}) {
    this.provider = provider;
    this.#now = now;
    this.#keepBodies = options.keepBodies ?? true;
  }

  /** received returns copies so a test cannot alter what the mock recorded. */
  received(): ReceivedEmail[] {
    return structuredClone(this.#emails);
  }

  /**
   * findEmails lists the accepted emails a search matches, oldest first (Postmark's outbound
   * message search), leaving out those accepted within the search delay (not indexed yet).
   */
  findEmails(match: (email: ReceivedEmail) => boolean): ReceivedEmail[] {
    const indexedBefore = this.#now() - this.#searchDelayMs;
    return this.#emails.filter((email) => Date.parse(email.receivedAt) <= indexedBefore && match(email))
      .map((email) => structuredClone(email));
  }

  /** setSearchDelay makes an accepted email searchable only ms after it was accepted, as Postmark indexes. */
  setSearchDelay(ms: number): void {
    this.#searchDelayMs = parseLatency(ms);
  }

  calls(): CallRecord[] {
    return structuredClone(this.#calls);
  }

  stats(): MockStats {
    const recipients = new Set<string>();
    let first: string | undefined;
    let last: string | undefined;
    for (const email of this.#emails) {
      recipients.add(email.to.join(',').toLowerCase());
      // ISO timestamps of one clock compare as strings.
      if (first === undefined || email.receivedAt < first) first = email.receivedAt;
      if (last === undefined || email.receivedAt > last) last = email.receivedAt;
    }
    const byStatus: Record<string, number> = {};
    for (const call of this.#calls) byStatus[call.status] = (byStatus[call.status] ?? 0) + 1;
    return {
      emails: this.#emails.length,
      uniqueRecipients: recipients.size,
      calls: this.#calls.length,
      byStatus,
      ...(first === undefined ? {} : { firstReceivedAt: first, lastReceivedAt: last }),
    };
  }

  injectFault(fault: Fault): void {
    const parsed = parseFault(fault);
    this.#faults.push({
      fault: parsed,
      remaining: parsed.count ?? null,
      expiresAt: parsed.durationMs === undefined ? null : this.#now() + parsed.durationMs,
    });
  }

  clearFaults(): void {
    this.#faults = [];
  }

  setLatency(ms: number): void {
    this.#latencyMs = parseLatency(ms);
  }

  failAddresses(kind: 'inactive' | 'invalid', emails: string[]): void {
    const status = parseAddressKind(kind);
    for (const email of parseEmailList(emails)) this.#addresses.set(email, status);
  }

  setWebhook(target: WebhookTarget | null): void {
    this.#webhook = target ?? undefined;
  }

  async emitEvents(kind: MockEventKind, to: string[], options: { times?: number } = {}): Promise<number[]> {
    const target = this.#webhook;
    if (!target) throw new MockInputError(`no webhook target set for ${this.provider}: call setWebhook first`);
    if (!MOCK_EVENT_KINDS.includes(kind)) {
      throw new MockInputError(`kind must be one of ${MOCK_EVENT_KINDS.join(', ')}`);
    }
    const wanted = new Set(parseEmailList(to));
    const statuses: number[] = [];
    for (const email of this.#emails) {
      if (!email.to.some((recipient) => wanted.has(bareAddress(recipient).toLowerCase()))) continue;
      // One event, delivered `times` times (the same id each time: a provider's redelivery).
      const delivery = webhookFor(this.provider, email, kind, target);
      if (kind === 'unsubscribed' || kind === 'bounced' || kind === 'complained') {
        // As the providers do after a hard bounce, a complaint or an unsubscribe: the address is
        // kept from mail from now on (Postmark: 406 inactive recipient; Resend: accepted, not sent).
        for (const recipient of email.to) this.#addresses.set(bareAddress(recipient).toLowerCase(), 'inactive');
      }
      for (let i = 0; i < (options.times ?? 1); i++) statuses.push(await post(target, delivery));
    }
    return statuses;
  }

  setRateLimit(requestsPerSecond: number | null): void {
    this.#rateLimit = parseRateLimit(requestsPerSecond);
    this.#window = { start: 0, count: 0 };
  }

  reset(): void {
    this.#emails = [];
    this.#calls = [];
    this.#faults = [];
    this.#latencyMs = 0;
    this.#searchDelayMs = 0;
    this.#addresses.clear();
    this.#rateLimit = null;
    this.#webhook = undefined;
    this.#window = { start: 0, count: 0 };
    this.#idempotency.clear();
  }

  /** latencyMs is the current delay before each send response. */
  get latencyMs(): number {
    return this.#latencyMs;
  }

  /** addressStatus tells whether a bare, lower-cased address was registered as failing. */
  addressStatus(address: string): AddressStatus | undefined {
    return this.#addresses.get(address.toLowerCase());
  }

  /** takeFault returns the fault answering this send call, if any, and uses up one of its count. */
  takeFault(): Fault | undefined {
    const now = this.#now();
    this.#faults = this.#faults.filter((active) => active.expiresAt === null || active.expiresAt > now);
    const active = this.#faults[0];
    if (!active) return undefined;
    if (active.remaining !== null) {
      active.remaining -= 1;
      if (active.remaining <= 0) this.#faults.shift();
    }
    return active.fault;
  }

  /**
   * checkRateLimit counts one send call in a fixed one-second window; null when no limit is set.
   * Rejected calls count too, as at a real provider: hammering does not earn capacity.
   */
  checkRateLimit(): RateLimitDecision | null {
    const limit = this.#rateLimit;
    if (limit === null) return null;
    const now = this.#now();
    if (now - this.#window.start >= 1000) this.#window = { start: now, count: 0 };
    this.#window.count += 1;
    return {
      allowed: this.#window.count <= limit,
      limit,
      remaining: Math.max(0, limit - this.#window.count),
      resetSeconds: Math.max(1, Math.ceil((this.#window.start + 1000 - now) / 1000)),
    };
  }

  /** beginIdempotent looks a key up; a 'new' key is marked in flight until completed or abandoned. */
  beginIdempotent(key: string, fingerprint: string): IdempotencyLookup {
    const now = this.#now();
    const entry = this.#idempotency.get(key);
    if (entry && entry.expiresAt > now) {
      if (entry.response === null) return { kind: 'in-flight' };
      if (entry.fingerprint !== fingerprint) return { kind: 'mismatch' };
      return { kind: 'replay', response: structuredClone(entry.response) };
    }
    this.#idempotency.set(key, { fingerprint, expiresAt: now + IDEMPOTENCY_TTL_MS, response: null });
    return { kind: 'new' };
  }

  /** completeIdempotent stores the first response for a key so later requests replay it. */
  completeIdempotent(key: string, response: StoredResponse): void {
    const entry = this.#idempotency.get(key);
    if (entry && entry.response === null) entry.response = structuredClone(response);
  }

  /** abandonIdempotent forgets an in-flight key whose request never produced a response (e.g. the server closed). */
  abandonIdempotent(key: string): void {
    if (this.#idempotency.get(key)?.response === null) this.#idempotency.delete(key);
  }

  /** recordEmail appends an accepted email (only its provider, id, recipients and time unless bodies are kept). */
  recordEmail(email: ReceivedEmail): void {
    this.#emails.push(
      this.#keepBodies ? email : {
        provider: email.provider,
        messageId: email.messageId,
        from: '',
        to: email.to,
        subject: '',
        headers: {},
        tags: {},
        receivedAt: email.receivedAt,
      },
    );
  }

  /** recordCall appends a send call with its answered status. */
  recordCall(call: CallRecord): void {
    this.#calls.push(call);
  }
}
