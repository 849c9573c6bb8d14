/**
 * @authentik/newsletter-contracts: what a client of authentik-temporal-server imports —
 * the generated messages and typed gRPC clients, and createNewsletterClient, which sets the
 * token, deadlines, TLS and safe retries. The backend-facing HTTP contracts (callback
 * payloads, recipient pages, the signature verifier) are in "@authentik/newsletter-contracts/http".
 */
export * from './gen/authentik/temporal/v1/newsletter.ts';
export * from './gen/authentik/temporal/v1/workflow.ts';
export * from './gen/authentik/temporal/v1/newsletter.client.ts';
export * from './gen/authentik/temporal/v1/workflow.client.ts';
export { Timestamp } from './gen/google/protobuf/timestamp.ts';
export {
  backoffMs,
  createNewsletterClient,
  type NewsletterClient,
  type NewsletterClientOptions,
  RETRIED_METHODS,
  type TlsOptions,
} from './client.ts';
