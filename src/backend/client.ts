/**
 * BackendClient: the status callback API of the Authentik backend
 * (contracts/backend-callbacks.openapi.yaml).
 */
import type { BackendEvent } from '../domain/types.ts';

/** BackendCallbackError is thrown when the backend did not accept a callback; retryable says whether trying again can help. */
export class BackendCallbackError extends Error {
  readonly status: number | null;
  readonly retryable: boolean;
  constructor(message: string, status: number | null, retryable: boolean) {
    super(message);
    this.name = 'BackendCallbackError';
    this.status = status;
    this.retryable = retryable;
  }
}

/** BackendClient posts newsletter status events. */
export interface BackendClient {
  /** enabled is false when BACKEND_URL is unset: events are then dropped. */
  readonly enabled: boolean;
  postStatus(event: BackendEvent): Promise<void>;
}

/** createBackendClient builds the client; with no url it is disabled. */
export function createBackendClient(options: { url?: string; token?: string; timeoutMs?: number }): BackendClient {
  const { url, token, timeoutMs = 10_000 } = options;
  return {
    enabled: Boolean(url),
    async postStatus(event: BackendEvent): Promise<void> {
      if (!url) return;
      const target = `${url}/api/internal/newsletters/${encodeURIComponent(event.newsletter_id)}/status`;
      let response: Response;
      try {
        response = await fetch(target, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify(event),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw new BackendCallbackError(`backend unreachable: ${(err as Error).message}`, null, true);
      }
      await response.body?.cancel();
      if (response.ok) return;
      // 408, 429 and 5xx may pass; other 4xx will not change on retry.
      const retryable = response.status === 408 || response.status === 429 || response.status >= 500;
      throw new BackendCallbackError(`backend answered ${response.status}`, response.status, retryable);
    },
  };
}
