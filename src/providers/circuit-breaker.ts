/**
 * CircuitBreaker: stops sending to a provider that keeps failing and probes it
 * again later. One per provider per worker process; open means "fail over now".
 */

/** CircuitState is closed (sending), open (refusing) or half_open (one probe allowed). */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** CircuitBreakerOptions tunes when the circuit opens and when it probes again. */
export interface CircuitBreakerOptions {
  failureThreshold: number;
  cooldownMs: number;
  now?: () => number;
  onStateChange?: (state: CircuitState) => void;
}

/** CircuitBreaker opens after failureThreshold consecutive failures and half-opens after cooldownMs. */
export class CircuitBreaker {
  #state: CircuitState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;
  #cooldown: ReturnType<typeof setTimeout> | undefined;
  readonly #options: CircuitBreakerOptions;
  readonly #now: () => number;

  constructor(options: CircuitBreakerOptions) {
    this.#options = options;
    // The monotonic clock: a wall clock set back (NTP, a resumed VM) would hold the circuit open until it caught up.
    this.#now = options.now ?? (() => performance.now());
  }

  /** state is the current state, moving open to half_open once the cooldown has passed. */
  get state(): CircuitState {
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.#options.cooldownMs) {
      this.#set('half_open');
    }
    return this.#state;
  }

  /** tryAcquire says whether a call may go out now; in half_open only one probe at a time. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.#probing) return false;
    this.#probing = true;
    return true;
  }

  /** recordSuccess closes the circuit. */
  recordSuccess(): void {
    clearTimeout(this.#cooldown);
    this.#failures = 0;
    this.#probing = false;
    this.#set('closed');
  }

  /** recordFailure counts a provider-health failure; a failed probe reopens at once. */
  recordFailure(): void {
    this.#failures += 1;
    if (this.#state === 'half_open' || this.#failures >= this.#options.failureThreshold) {
      this.#probing = false;
      this.#openedAt = this.#now();
      this.#set('open');
      // Move on to half_open when the cooldown ends even if no call asks by then: the state is
      // also what the circuit gauge and its alert show, which must not stay "open" for ever.
      this.#endCooldownIn(this.#options.cooldownMs);
    }
  }

  /** #endCooldownIn looks at the state after ms, and again while the cooldown has not quite passed (timers round). */
  #endCooldownIn(ms: number): void {
    clearTimeout(this.#cooldown);
    this.#cooldown = setTimeout(() => {
      const left = this.#options.cooldownMs - (this.#now() - this.#openedAt);
      if (this.#state === 'open' && left > 0) this.#endCooldownIn(Math.ceil(left));
      else void this.state;
    }, ms);
    (this.#cooldown as { unref?: () => void }).unref?.();
  }

  /** release ends a probe whose outcome says nothing about health (e.g. rate limited). */
  release(): void {
    this.#probing = false;
  }

  #set(state: CircuitState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#options.onStateChange?.(state);
  }
}
