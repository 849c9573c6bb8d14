/**
 * The direct baseline: the same emails the service would send, rendered with the service's
 * templating and sent by a plain loop through the official Resend SDK (`batch.send`, batch
 * size 100, 8 calls in flight, an idempotency key per call), no Temporal. Prints one JSON
 * line: when the first call started, when the last answer came, calls and errors.
 *
 *   node bench/direct.ts --resend-url http://127.0.0.1:4010 --n 10000 --prefix d [--batch 100] [--in-flight 8]
 */
import { parseArgs } from 'node:util';
import { Resend } from 'resend';
import { renderEmail } from '../src/domain/templating.ts';
import { recipientAt } from './lib/backend.ts';
import { CONTENT, UNSUBSCRIBE_BASE_URL } from './lib/content.ts';

const { values } = parseArgs({
  options: {
    'resend-url': { type: 'string' },
    n: { type: 'string' },
    prefix: { type: 'string', default: 'direct' },
    batch: { type: 'string', default: '100' },
    'in-flight': { type: 'string', default: '8' },
  },
});
const n = Number(values.n);
const batchSize = Number(values.batch);
const inFlight = Number(values['in-flight']);
const prefix = values.prefix!;
const newsletterId = `direct-${prefix}`;
const resend = new Resend('re_mock', { baseUrl: values['resend-url'] });

const batches = Math.ceil(n / batchSize);
let next = 0;
let calls = 0;
let errors = 0;

async function sendBatch(b: number): Promise<void> {
  const emails = [];
  for (let i = b * batchSize; i < Math.min(n, (b + 1) * batchSize); i++) {
    const m = renderEmail(CONTENT, recipientAt(prefix, i), { newsletterId, unsubscribeBaseUrl: UNSUBSCRIBE_BASE_URL });
    emails.push({ from: m.from, to: [m.to], subject: m.subject, html: m.html as string, headers: m.headers, tags: [] });
  }
  // A failed call is retried (the key makes a retry safe), as any sender would.
  for (let attempt = 1;; attempt++) {
    calls += 1;
    const { error } = await resend.batch.send(emails, {
      idempotencyKey: `${newsletterId}-b${b}`,
      batchValidation: 'permissive',
    });
    if (!error) return;
    errors += 1;
    if (attempt >= 5) throw new Error(`batch ${b}: ${error.name}: ${error.message}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

const startedAt = Date.now();
await Promise.all(Array.from({ length: inFlight }, async () => {
  while (next < batches) await sendBatch(next++);
}));
const finishedAt = Date.now();
console.log(JSON.stringify({ n, batches, calls, errors, startedAt, finishedAt }));
