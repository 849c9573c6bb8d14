// Sends a newsletter to authentik-temporal-server and watches it to the end, from a Node
// project that installed the package (`npm install @authentik/newsletter-contracts`):
//   NEWSLETTER_ADDRESS=127.0.0.1:50051 NEWSLETTER_TOKEN=... node send-and-watch.mjs
import { createNewsletterClient, NewsletterState } from '@authentik/newsletter-contracts';

const client = createNewsletterClient({
  address: process.env.NEWSLETTER_ADDRESS ?? '127.0.0.1:50051',
  token: process.env.NEWSLETTER_TOKEN,
});
const newsletterId = process.env.NEWSLETTER_ID ?? `example-${Date.now()}`;
try {
  const { response } = await client.newsletters.sendNewsletter({
    newsletterId,
    subject: 'Hello {{name}}',
    htmlContent: '<p>Hello {{name}}, here is what is new.</p>',
    textContent: '',
    fromEmail: '',
    replyTo: '',
    recipients: [
      { email: 'ada@example.com', name: 'Ada', recipientId: 'u-1', variables: {} },
      { email: 'grace@example.com', name: 'Grace', recipientId: 'u-2', variables: {} },
    ],
    tags: {},
  });
  console.log(`started ${response.workflowId}${response.alreadyExists ? ' (already started)' : ''}`);
  for await (const { status } of client.newsletters.watchNewsletter({ newsletterId }).responses) {
    console.log(`${NewsletterState[status.state]} sent=${status.sent} failed=${status.failed} of ${status.totalRecipients}`);
  }
} finally {
  client.close();
}
