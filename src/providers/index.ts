/**
 * The provider registry: every provider of PROVIDERS (src/domain/types.ts) has one
 * entry here, and the Record type makes a new provider without an entry a compile
 * error. `createProviders` builds the adapters that have API keys; a provider without a
 * key is simply absent, and the activity treats it as unavailable so the workflow fails
 * over to the next.
 */
import type { Config } from '../config.ts';
import type { ProviderName } from '../domain/types.ts';
import { type FailureExample, failureTable } from './failures.ts';
import { POSTMARK_FAILURES } from './postmark/errors.ts';
import { createPostmarkProvider } from './postmark/index.ts';
import { RESEND_FAILURES } from './resend/errors.ts';
import { createResendProvider } from './resend/index.ts';
import type { EmailProvider } from './types.ts';

type ProvidersConfig = Config['providers'];

/** ProviderEntry is what the service knows of one provider: how to build it and how it fails. */
interface ProviderEntry {
  /** create builds the adapter, or undefined when the provider has no API key. */
  create(config: ProvidersConfig): EmailProvider | undefined;
  /** failures documents the provider's failure answers (README "Failure handling"). */
  failures: readonly FailureExample[];
}

const REGISTRY: Readonly<Record<ProviderName, ProviderEntry>> = {
  resend: {
    create: ({ resend, timeoutMs }) =>
      resend.apiKey ? createResendProvider({ ...resend, apiKey: resend.apiKey, timeoutMs }) : undefined,
    failures: RESEND_FAILURES,
  },
  postmark: {
    create: ({ postmark, timeoutMs }) =>
      postmark.apiKey ? createPostmarkProvider({ ...postmark, apiKey: postmark.apiKey, timeoutMs }) : undefined,
    failures: POSTMARK_FAILURES,
  },
};

/** createProviders builds every configured provider adapter. */
export function createProviders(config: ProvidersConfig): Map<ProviderName, EmailProvider> {
  const providers = new Map<ProviderName, EmailProvider>();
  for (const [name, entry] of Object.entries(REGISTRY) as Array<[ProviderName, ProviderEntry]>) {
    const provider = entry.create(config);
    if (provider) providers.set(name, provider);
  }
  return providers;
}

/** failureTableMarkdown is the README's "Failure handling" table, rendered from every provider's failures. */
export function failureTableMarkdown(): string {
  return failureTable(
    Object.fromEntries(Object.entries(REGISTRY).map(([name, entry]) => [name, entry.failures])) as Record<
      ProviderName,
      readonly FailureExample[]
    >,
  );
}
