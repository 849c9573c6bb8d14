/**
 * The newsletter every scenario sends: test/support/fixtures.ts newsletterRequest()'s
 * templates with the sender and frontend of test/support/service-env.ts, so the direct
 * baseline and the per-email design send exactly the emails the service renders.
 */
import type { NewsletterContent } from '../../src/domain/types.ts';
import { testServiceEnv } from '../../test/support/service-env.ts';

const env = testServiceEnv({ resendUrl: '', postmarkUrl: '' });

/** UNSUBSCRIBE_BASE_URL is the service's FRONTEND_URL. */
export const UNSUBSCRIBE_BASE_URL = env.FRONTEND_URL!;

/** CONTENT is the content as the service holds it after validation. */
export const CONTENT: NewsletterContent = {
  subject: 'Hello {{name}}',
  html: '<p>Hello {{name}}</p>',
  from: env.FROM_EMAIL!,
  tags: {},
};
