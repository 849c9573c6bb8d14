// Sends a newsletter to authentik-temporal-server and watches it to the end, from Deno:
//   NEWSLETTER_ADDRESS=127.0.0.1:50051 NEWSLETTER_TOKEN=... \
//     deno run --allow-net --allow-env --allow-read --allow-sys examples/deno/send-and-watch.ts
// (from contracts/; a Deno project importing the published package uses "npm:@authentik/newsletter-contracts").
import { createNewsletterClient, NewsletterState } from '../../index.ts';

const client = createNewsletterClient({
  address: Deno.env.get('NEWSLETTER_ADDRESS') ?? '127.0.0.1:50051',
  token: Deno.env.get('NEWSLETTER_TOKEN'),
});
const newsletterId = Deno.env.get('NEWSLETTER_ID') ?? `example-${Date.now()}`;
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
    console.log(
      `${NewsletterState[status!.state]} sent=${status!.sent} failed=${status!.failed} of ${status!.totalRecipients}`,
    );
  }
} finally {
  client.close();
}
