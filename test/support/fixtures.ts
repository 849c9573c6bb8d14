/**
 * Test fixtures shared by the integration suites, the e2e suites and `make dev`'s test:
 * the service token, recipients, newsletter ids and requests, a silent logger.
 */
import { randomUUID } from 'node:crypto';
import type { SendNewsletterRequest } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import type { RenderedEmail } from '../../src/domain/templating.ts';
import type { NewsletterInput } from '../../src/domain/types.ts';

/** TOKEN is the INTERNAL_SERVICE_TOKEN of every service under test. */
export const TOKEN = 'test-service-token';

/** auth is the call option carrying the bearer token. */
export const auth = { meta: { authorization: `Bearer ${TOKEN}` } };

/** Recipient is a recipient as the generated client takes it. */
export type Recipient = SendNewsletterRequest['recipients'][number];

/** recipients makes n distinct recipients whose names need HTML escaping. */
export function recipients(n: number, prefix = 'user'): Recipient[] {
  return Array.from({ length: n }, (_, i) => ({
    email: `${prefix}${i}@example.com`,
    name: `<${prefix} ${i}> & co`,
    variables: { index: String(i) },
    recipientId: `${prefix}-${i}`,
  }));
}

/** newsletterId makes a unique, valid newsletter id. */
export function newsletterId(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

/** newsletterRequest is a valid SendNewsletter request for list, with overrides. */
export function newsletterRequest(
  id: string,
  list: Recipient[],
  overrides: Partial<SendNewsletterRequest> = {},
): SendNewsletterRequest {
  return {
    newsletterId: id,
    subject: 'Hello {{name}}',
    htmlContent: '<p>Hello {{name}}</p>',
    textContent: '',
    fromEmail: '',
    replyTo: '',
    recipients: list,
    tags: {},
    ...overrides,
  };
}

/** silentLogger swallows the Temporal SDK's log lines (e.g. the workflow bundler's). */
export const silentLogger = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} };

/** renderedEmail is one finished email to `to`, as a provider adapter receives it (adapter specs). */
export const renderedEmail = (to: string): RenderedEmail => ({
  to,
  from: 'News <news@example.com>',
  subject: `Hello ${to}`,
  html: '<p>Hi</p>',
  text: 'Hi',
  headers: { 'List-Unsubscribe': '<https://example.com/u>' },
  tags: { campaign: 'spring' },
  ids: { newsletterId: 'n1', recipientId: `r-${to}` },
});

/**
 * newsletterInput is a newsletter workflow's start input for workflow-level tests: a plain
 * text email, no recipients inline, batches of 10, one in flight, Resend first; overrides
 * change any of it (`listId` makes it a backend list).
 */
export const newsletterInput = (newsletterId: string, overrides: Partial<NewsletterInput> = {}): NewsletterInput => ({
  newsletterId,
  content: { subject: 's', text: 't', from: 'a@example.com', tags: {} },
  recipients: [],
  batchSize: 10,
  concurrency: 1,
  primaryProvider: 'resend',
  unsubscribeBaseUrl: 'https://app.example.com',
  ...overrides,
});
