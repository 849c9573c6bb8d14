/**
 * The service's environment against stand-ins: the one place that says which variables
 * point the service at a Temporal server, the mock providers and a backend. Used by the
 * integration harness, the e2e containers and `make dev`.
 */
import { TOKEN } from './fixtures.ts';

/** ServiceUrls are where the service's dependencies answer. */
export interface ServiceUrls {
  temporalAddress?: string;
  resendUrl: string;
  postmarkUrl: string;
  backendUrl?: string;
}

/** serviceEnv points the service at the mock providers (with stand-in keys), and at Temporal and a backend when given. */
export function serviceEnv(urls: ServiceUrls): Record<string, string> {
  return {
    ...(urls.temporalAddress ? { TEMPORAL_ADDRESS: urls.temporalAddress } : {}),
    RESEND_API_KEY: 're_mock',
    RESEND_BASE_URL: urls.resendUrl,
    POSTMARK_API_KEY: 'postmark-mock',
    POSTMARK_BASE_URL: urls.postmarkUrl,
    ...(urls.backendUrl ? { BACKEND_URL: urls.backendUrl } : {}),
  };
}

/** testServiceEnv is serviceEnv plus the settings every test suite shares (loopback, token, sender, frontend, no rate limit). */
export function testServiceEnv(urls: ServiceUrls, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    GRPC_HOST: '127.0.0.1',
    // Suites run several services at once: the webhook endpoint takes any free port unless a suite names one.
    WEBHOOK_PORT: '0',
    ...serviceEnv(urls),
    FROM_EMAIL: 'Authentik <news@authentik.example>',
    FRONTEND_URL: 'https://app.authentik.example',
    INTERNAL_SERVICE_TOKEN: TOKEN,
    // The image runs in production, where the links must be signed.
    UNSUBSCRIBE_SIGNING_SECRET: 'test-unsubscribe-signing-secret',
    // Suites that test the provider rate limit set their own; the others should not wait for it.
    RESEND_REQUESTS_PER_SECOND: '1000',
    POSTMARK_REQUESTS_PER_SECOND: '1000',
    ...overrides,
  };
}
