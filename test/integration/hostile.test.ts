/**
 * Hostile input, property-based (fast-check, fixed seed, counts printed): generated
 * SendNewsletter requests full of CR/LF/NUL, unicode edge cases, template tricks, odd and
 * invalid addresses and oversize fields, and random bytes on the wire, against a running
 * bridge. Every answer is a gRPC status the API documents, a refused request starts
 * nothing, no control character reaches a header of a provider payload, and the bridge
 * keeps serving without its memory running away.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, makeGenericClientConstructor, Metadata, type ServiceError } from '@grpc/grpc-js';
import { RpcError } from '@protobuf-ts/runtime-rpc';
import fc from 'fast-check';
import type { SendNewsletterRequest } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { finalStatus } from '../support/grpc.ts';
import { type Stack, startStack } from './harness.ts';

const SEED = 20261126;
const RUNS = 1_000;
const RAW_RUNS = 2_000;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** hostile mixes ordinary text with what breaks naive code: line breaks, NUL, unicode edge cases, template syntax. */
const hostile = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom(
    'Hi\r\nBcc: victim@evil.test',
    'a\u0000b',
    '\u202eevil',
    '\ud800',
    '{{constructor}}',
    '{{__proto__}}',
    '{{#x}}{{/x}}',
    '{{> partial}}',
    '{{{raw}}}',
    '{{=<% %>=}}',
    '<script>alert(1)</script>',
    'x'.repeat(300),
    '',
  ),
  fc.tuple(
    fc.string({ maxLength: 10 }),
    fc.constantFrom('\r', '\n', '\r\n', '\u0000', '\t'),
    fc.string({ maxLength: 10 }),
  )
    .map(([a, c, b]) => `${a}${c}${b}`),
);

/** address is valid, odd-but-valid, or invalid per RFC 5321/5322. */
const address = fc.oneof(
  fc.emailAddress(),
  fc.constantFrom(
    'a@b.co',
    '"quoted local"@example.com',
    'user+tag@example.com',
    'x@[127.0.0.1]',
    'no-at-sign',
    'a@b',
    '@example.com',
    'a@@example.com',
    'a@example.com\r\nBcc: victim@evil.test',
    'Ünïcode@exämple.com',
    `${'l'.repeat(70)}@example.com`,
  ),
);

let counter = 0;
/** sometimes is mostly a valid value, sometimes a hostile one: most requests get far enough to be sent. */
const sometimes = <T>(valid: fc.Arbitrary<T>, bad: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: bad });
const uniqueEmail = fc.nat({ max: 1_000_000 }).map((n) => `fz${++counter}-${n}@example.com`);
const request: fc.Arbitrary<SendNewsletterRequest> = fc.record({
  newsletterId: sometimes(fc.constant('').map(() => `fz-${++counter}`), hostile),
  // Names and variables may hold anything: they reach the subject through {{name}} and {{v}}.
  subject: sometimes(fc.constantFrom('Hello {{name}}', 'News {{v}}', '{{{v}}} and {{name}}'), hostile),
  htmlContent: sometimes(fc.constantFrom('<p>{{name}}: {{v}}</p>', '<p>{{{v}}}</p>'), hostile),
  textContent: hostile,
  fromEmail: sometimes(fc.constant(''), fc.oneof(address, hostile.map((n) => `${n} <news@example.com>`))),
  replyTo: sometimes(fc.constant(''), address),
  recipients: fc.array(
    fc.record({
      email: sometimes(uniqueEmail, address),
      name: hostile,
      variables: fc.oneof(fc.record({ v: hostile }), fc.dictionary(hostile, hostile, { maxKeys: 3 })),
      recipientId: hostile,
    }),
    { minLength: 1, maxLength: 4 },
  ),
  tags: sometimes(fc.constant({}), fc.dictionary(hostile, hostile, { maxKeys: 2 })),
});

describe('hostile input', { timeout: 300_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ NEWSLETTER_BATCH_SIZE: '10' });
  });
  after(async () => {
    await stack?.close();
  });

  it(`answers ${RUNS} generated requests with documented statuses, starts nothing it refuses, injects no header`, async (t) => {
    const codes: Record<string, number> = {};
    const refused: string[] = [];
    const accepted: string[] = [];
    const heapBefore = process.memoryUsage().heapUsed;
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        try {
          await stack.newsletters.sendNewsletter(req, stack.auth).response;
          codes['OK'] = (codes['OK'] ?? 0) + 1;
          accepted.push(req.newsletterId);
        } catch (err) {
          assert.ok(err instanceof RpcError, `not a gRPC status: ${String(err)}`);
          codes[err.code] = (codes[err.code] ?? 0) + 1;
          assert.ok(['INVALID_ARGUMENT', 'ALREADY_EXISTS'].includes(err.code), `${err.code}: ${err.message}`);
          if (err.code === 'INVALID_ARGUMENT') {
            // e.g. `subject: …`, `recipients[2].email: …`, `tags[<the key>]: …` (a hostile key is quoted as it came).
            assert.match(err.message, /^[a-z_]+(\[[\s\S]*\])?(\.[a-z_]+)?: /, 'the message names the field');
            if (/^[A-Za-z0-9_-]{1,128}$/.test(req.newsletterId)) refused.push(req.newsletterId);
          }
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // A refused request started nothing.
    for (const id of refused.slice(0, 50)) {
      await assert.rejects(
        stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth).response,
        (err: unknown) => err instanceof RpcError && err.code === 'NOT_FOUND',
      );
    }
    // What was accepted went out, with clean headers.
    for (const id of accepted) await finalStatus(stack, id, 120_000);
    const emails = stack.mock.resend.received();
    for (const email of emails) {
      for (
        const [name, value] of [
          ['subject', email.subject],
          ['from', email.from],
          ['reply_to', email.replyTo ?? ''],
          ...Object.entries(email.headers),
        ]
      ) {
        assert.ok(!CONTROL.test(value!), `control character in ${name} of an email to ${email.to[0]}`);
      }
    }
    const heapGrowthMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    t.diagnostic(
      `fast-check seed ${SEED}: ${RUNS} requests: ${JSON.stringify(codes)}; ${refused.length} refusals checked ` +
        `started nothing (up to 50); ${emails.length} emails sent, headers clean; heap +${heapGrowthMb.toFixed(1)} MB`,
    );
    assert.ok(heapGrowthMb < 200, `heap grew by ${heapGrowthMb.toFixed(1)} MB`);
  });

  it(`answers ${RAW_RUNS} random byte strings on the wire with a gRPC status and keeps serving`, async (t) => {
    const Generic = makeGenericClientConstructor({
      SendNewsletter: {
        path: '/authentik.temporal.v1.NewsletterService/SendNewsletter',
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    }, 'NewsletterService');
    const client = new Generic(`127.0.0.1:${stack.bridge.port}`, credentials.createInsecure());
    const codes: Record<string, number> = {};
    try {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 2_048 }), async (bytes) => {
          const code = await new Promise<number>((resolve) => {
            const metadata = new Metadata();
            metadata.set('authorization', stack.auth.meta.authorization);
            client.SendNewsletter(
              Buffer.from(bytes),
              metadata,
              { deadline: Date.now() + 10_000 },
              (err: ServiceError | null) => resolve(err ? err.code : 0),
            );
          });
          codes[code] = (codes[code] ?? 0) + 1;
          // Bytes that happen to parse are validated (INVALID_ARGUMENT, or OK); others are refused as unreadable (INTERNAL).
          assert.ok([0, 3, 6, 13].includes(code), `status ${code}`);
        }),
        { seed: SEED, numRuns: RAW_RUNS },
      );
    } finally {
      client.close();
    }
    const { response } = await stack.newsletters.getNewsletterStatus({ newsletterId: 'still-serving' }, stack.auth)
      .response.then(() => ({ response: 'OK' }), (err: RpcError) => ({ response: err.code }));
    assert.equal(response, 'NOT_FOUND', 'the bridge still answers');
    t.diagnostic(`fast-check seed ${SEED}: ${RAW_RUNS} random messages, statuses by code ${JSON.stringify(codes)}`);
  });
});
