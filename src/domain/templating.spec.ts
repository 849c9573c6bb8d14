import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkTemplates,
  MAX_SECTION_DEPTH,
  renderEmail,
  RenderError,
  TemplateCache,
  templateCache,
  TemplateError,
} from './templating.ts';
import type { NewsletterContent, Recipient } from './types.ts';
import { verifyUnsubscribeLink } from '../../contracts/http/unsubscribe.ts';

const recipient: Recipient = {
  email: 'ada@example.com',
  name: 'Ada <Lovelace> & "Co"',
  variables: { plan: '<b>Pro</b>', name: 'spoofed', unsubscribe_url: 'https://evil.example' },
  recipientId: 'r-1',
};
const content: NewsletterContent = {
  subject: 'Hello {{name}} & welcome',
  html: '<p>Hi {{name}}, plan {{plan}} raw {{{plan}}} <a href="{{unsubscribe_url}}">u</a> {{missing}}|</p>',
  text: 'Hi {{name}}, plan {{plan}} {{missing}}|',
  from: 'News <news@example.com>',
  tags: { campaign: 'c1' },
};
const ctx = { newsletterId: 'nl-1', unsubscribeBaseUrl: 'https://app.example.com/' };

describe('renderEmail', () => {
  const email = renderEmail(content, recipient, ctx);

  it('HTML-escapes values in html_content', () => {
    assert.match(email.html!, /Hi Ada &lt;Lovelace&gt; &amp; &quot;Co&quot;,/);
    assert.match(email.html!, /plan &lt;b&gt;Pro&lt;\/b&gt;/);
  });

  it('leaves {{{key}}} unescaped in html_content', () => {
    assert.match(email.html!, /raw <b>Pro<\/b>/);
  });

  it('never HTML-escapes the subject or the text part', () => {
    assert.equal(email.subject, 'Hello Ada <Lovelace> & "Co" & welcome');
    assert.equal(email.text, 'Hi Ada <Lovelace> & "Co", plan <b>Pro</b> |');
  });

  it('turns line breaks a variable or name brings into the subject into spaces: no header injection', () => {
    const hostile = { ...recipient, name: 'Eve\r\nBcc: victim@evil.test', variables: { plan: 'x\u0000y\nz' } };
    const rendered = renderEmail({ ...content, subject: 'Hi {{name}}, {{plan}}' }, hostile, ctx);
    assert.equal(rendered.subject, 'Hi Eve  Bcc: victim@evil.test, x y z');
    // The body keeps them: there they are text, not headers.
    assert.match(rendered.text!, /Eve\r\nBcc/);
  });

  it('signs the unsubscribe link with UNSUBSCRIBE_SIGNING_SECRET, in the header and the body alike: an edited link does not verify', () => {
    const signed = renderEmail(content, recipient, { ...ctx, unsubscribeSecret: 'unsubscribe-secret' });
    const url = /^<(.*)>$/.exec(signed.headers!['List-Unsubscribe']!)![1]!;
    assert.deepEqual(verifyUnsubscribeLink({ url, secrets: ['unsubscribe-secret'] }), {
      ok: true,
      newsletterId: 'nl-1',
      recipientId: 'r-1',
      email: 'ada@example.com',
    });
    assert.ok(signed.html!.includes(url.replaceAll('&', '&amp;')), 'the body links to the same signed URL');
    const edited = new URL(url);
    edited.searchParams.set('email', 'victim@example.com');
    assert.equal(verifyUnsubscribeLink({ url: edited, secrets: ['unsubscribe-secret'] }).ok, false);
    // Without a secret the link carries no token.
    assert.ok(!email.headers!['List-Unsubscribe']!.includes('token='));
  });

  it('renders a missing variable as empty', () => {
    assert.match(email.html!, / \|<\/p>$/);
  });

  it("renders JavaScript's built-in names (an object's members, partials) as nothing, like any missing variable", () => {
    // Partials are not supported: {{> x}} is empty. Inherited members would render a function's
    // source, or throw on every attempt (__defineGetter__ called with nothing, a partial that is a function).
    const tricky = '{{> toString}}{{> constructor}}{{> __proto__}}{{__defineGetter__}}{{constructor}}{{toString}}' +
      '{{#valueOf}}x{{/valueOf}}{{__proto__}}|';
    const rendered = renderEmail({ ...content, subject: tricky, html: tricky, text: tricky }, recipient, ctx);
    assert.deepEqual([rendered.subject, rendered.html, rendered.text], ['|', '|', '|']);
  });

  it('refuses, before rendering it, an email whose variables would make it larger than any provider takes', () => {
    // 700,000 copies of a 100-character value would be a 70 MB body, built in memory before any size check.
    const huge = { ...recipient, variables: { v: 'x'.repeat(100) } };
    assert.throws(
      () => renderEmail({ ...content, html: '{{{v}}}'.repeat(700_000) }, huge, ctx),
      (err: unknown) => err instanceof RenderError && /over \d+ MiB/.test(err.message),
    );
    // A dotted name (in a newsletter started before they were refused) is bounded by the longest value too.
    assert.throws(
      () =>
        renderEmail({ ...content, html: '{{#v}}{{constructor.prototype.valueOf}}{{/v}}'.repeat(500_000) }, huge, ctx),
      (err: unknown) => err instanceof RenderError,
    );
    // The same template for a recipient with a short value renders.
    const short = renderEmail(
      { ...content, html: '{{{v}}}'.repeat(700_000) },
      { ...recipient, variables: { v: 'x' } },
      ctx,
    );
    assert.equal(short.html!.length, 700_000);
  });

  it('fails the recipient, not the batch, for a template that does not compile (one begun before the bridge checked)', () => {
    // A permanent RenderError: an activity failure would be retried for ever with the same template.
    assert.throws(
      () => renderEmail({ ...content, html: '<p>{{#a}} never closed</p>' }, recipient, ctx),
      (err: unknown) => err instanceof RenderError && /does not render: Unclosed section "a"/.test(err.message),
    );
  });

  it('keeps built-ins over same-named variables and links the recipient unsubscribe page', () => {
    const expected = 'https://app.example.com/unsubscribe?newsletter_id=nl-1&recipient_id=r-1&email=ada%40example.com';
    assert.ok(email.html!.includes(expected.replaceAll('&', '&amp;')), email.html);
    assert.equal(email.headers['List-Unsubscribe'], `<${expected}>`);
    assert.equal(email.headers['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
  });
});

describe('checkTemplates', () => {
  it('accepts valid templates', () => {
    assert.doesNotThrow(() => checkTemplates(content));
  });

  it('refuses sections nested deeper than it renders (the send would overflow the stack on every retry), naming the field', () => {
    const nested = (depth: number) => `${'{{^x}}'.repeat(depth)}hi${'{{/x}}'.repeat(depth)}`;
    assert.doesNotThrow(() => checkTemplates({ subject: 'ok', html: nested(MAX_SECTION_DEPTH) }));
    assert.doesNotThrow(() => renderEmail({ ...content, html: nested(MAX_SECTION_DEPTH) }, recipient, ctx));
    assert.throws(
      () => checkTemplates({ subject: 'ok', html: nested(20_000) }),
      (err: unknown) => err instanceof TemplateError && err.field === 'html_content' && /nested/.test(err.message),
    );
  });

  it('refuses a tag with a dotted name, naming the field: values are strings, and a dotted name walks into their prototype', () => {
    for (const template of ['{{a.b}}', '{{#v}}{{constructor.prototype.valueOf}}{{/v}}', '{{{name.length}}}']) {
      assert.throws(
        () => checkTemplates({ subject: 'Hi', text: template }),
        (err: unknown) => err instanceof TemplateError && err.field === 'text_content' && /dot/.test(err.message),
        template,
      );
    }
    assert.doesNotThrow(
      () => checkTemplates({ subject: 'Hi', text: '{{#plan}}{{.}}{{/plan}}' }),
      '{{.}} is the value itself',
    );
  });

  it('refuses a template that does not render whatever the values, naming the field: every recipient would fail', () => {
    // Mustache keeps its lookups in a plain object: a tag named hasOwnProperty breaks every lookup after it.
    assert.throws(
      () => checkTemplates({ subject: 'Hi', html: '{{hasOwnProperty}} {{name}}' }),
      (err: unknown) =>
        err instanceof TemplateError && err.field === 'html_content' && /does not render/.test(err.message),
    );
  });

  it('names the field of a template that does not compile', () => {
    assert.throws(
      () => checkTemplates({ subject: 'ok', html: '<p>{{#items}}never closed</p>' }),
      (err: unknown) => err instanceof TemplateError && err.field === 'html_content',
    );
    assert.throws(
      () => checkTemplates({ subject: 'Hi {{name', text: 'x' }),
      (err: unknown) => err instanceof TemplateError && err.field === 'subject',
    );
  });
});

describe('the parsed-template cache', () => {
  it('keeps at most its size of templates, whatever the process checks and renders', () => {
    const big = (i: number) => `<p>Hello {{name}} #${i}</p>`.padEnd(300 * 1024, '.');
    for (let i = 0; i < 20; i++) checkTemplates({ subject: 's', html: big(i) });
    assert.ok(templateCache.chars <= templateCache.maxChars, `${templateCache.chars} characters kept`);
    assert.ok(templateCache.chars > 0, 'recent templates are kept');
  });

  it('keeps the most recently used and never one larger than itself', () => {
    const cache = new TemplateCache(10);
    cache.set('aaaa', 'A');
    cache.set('bbbb', 'B');
    cache.get('aaaa');
    cache.set('cccc', 'C'); // 12 characters: the least recently used (bbbb) goes
    assert.deepEqual([cache.get('aaaa'), cache.get('bbbb'), cache.get('cccc')], ['A', undefined, 'C']);
    cache.set('x'.repeat(11), 'X');
    assert.equal(cache.get('x'.repeat(11)), undefined);
    assert.equal(cache.chars, 8);
  });
});
