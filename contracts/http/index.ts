/**
 * The HTTP contracts between authentik-temporal-server and the Authentik backend: the wire
 * types of every request the service makes (backend.openapi.yaml), the X-Signature
 * verifier for the backend, and the verifier of the signed unsubscribe links.
 */
export type * from './backend.ts';
export * from './signature.ts';
export * from './unsubscribe.ts';
