/**
 * MockProvidersClient drives mock providers running in another process (a container,
 * `make dev`) through their HTTP control and inspection API (/__mock/*).
 */
import type { CallRecord, Fault, MockProviderName as Side, MockStats, ReceivedEmail } from './types.ts';

/** MockProvidersClient controls and inspects both mock providers. */
export class MockProvidersClient {
  readonly resendUrl: string;
  readonly postmarkUrl: string;

  constructor(resendUrl: string, postmarkUrl: string) {
    this.resendUrl = resendUrl;
    this.postmarkUrl = postmarkUrl;
  }

  #url(side: Side): string {
    return side === 'resend' ? this.resendUrl : this.postmarkUrl;
  }

  async #call(side: Side, method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.#url(side)}/__mock/${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${side} ${method} ${path}: ${response.status} ${await response.text()}`);
    return response.status === 204 ? undefined : await response.json();
  }

  /** emails lists the emails a provider accepted. */
  async emails(side: Side): Promise<ReceivedEmail[]> {
    return ((await this.#call(side, 'GET', 'emails')) as { emails: ReceivedEmail[] }).emails;
  }

  /** calls lists every send call a provider answered. */
  async calls(side: Side): Promise<CallRecord[]> {
    return ((await this.#call(side, 'GET', 'calls')) as { calls: CallRecord[] }).calls;
  }

  /** stats counts what a provider received (emails, distinct recipients, calls by status) without listing it. */
  async stats(side: Side): Promise<MockStats> {
    return (await this.#call(side, 'GET', 'stats')) as MockStats;
  }

  /** fault injects a fault into a provider's send endpoints. */
  async fault(side: Side, fault: Fault): Promise<void> {
    await this.#call(side, 'POST', 'faults', fault);
  }

  /** clearFaults removes a provider's faults. */
  async clearFaults(side: Side): Promise<void> {
    await this.#call(side, 'DELETE', 'faults');
  }

  /** latency delays every send answer of a provider. */
  async latency(side: Side, ms: number): Promise<void> {
    await this.#call(side, 'POST', 'latency', { ms });
  }

  /** reset forgets everything on both providers. */
  async reset(): Promise<void> {
    await Promise.all([this.#call('resend', 'POST', 'reset'), this.#call('postmark', 'POST', 'reset')]);
  }
}
