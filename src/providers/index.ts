/**
 * The provider registry: builds the adapters that have API keys, keyed by name.
 * A provider without a key is simply absent; the activity treats it as unavailable
 * so the workflow fails over to the other.
 */
import type { Config } from '../config.ts';
import type { ProviderName } from '../domain/types.ts';
import { createPostmarkProvider } from './postmark/index.ts';
import { createResendProvider } from './resend/index.ts';
import type { EmailProvider } from './types.ts';

/** createProviders builds every configured provider adapter. */
export function createProviders(config: Config['providers']): Map<ProviderName, EmailProvider> {
  const providers = new Map<ProviderName, EmailProvider>();
  if (config.resend.apiKey) {
    providers.set(
      'resend',
      createResendProvider({ ...config.resend, apiKey: config.resend.apiKey, timeoutMs: config.timeoutMs }),
    );
  }
  if (config.postmark.apiKey) {
    providers.set(
      'postmark',
      createPostmarkProvider({ ...config.postmark, apiKey: config.postmark.apiKey, timeoutMs: config.timeoutMs }),
    );
  }
  return providers;
}
