import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_RENDERED_CHARS, renderEmail } from './templating.ts';
import { MAX_HTML_CHARS, textTemplateFrom } from './text-part.ts';

const recipient = { email: 'ada@example.com', name: 'Ada & Bob', recipientId: 'r1', variables: { city: 'Paris' } };
const context = { newsletterId: 'nl1', unsubscribeBaseUrl: 'https://app.example.com' };

describe('textTemplateFrom', () => {
  it("makes an HTML-only newsletter's text part: personalized, unescaped, with its links, and its headings as written", () => {
    const html = '<h1>Hello {{name}}</h1><p>News from {{city}} &amp; more.</p>' +
      '<ul>{{#city}}<li>{{city}}</li>{{/city}}</ul><img src="https://cdn.example/logo.png" alt="Logo">' +
      '<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>';
    const textFallback = textTemplateFrom(html)!;
    const email = renderEmail({ subject: 's', html, from: 'news@example.com', tags: {} }, recipient, {
      ...context,
      textFallback,
    });
    const text = email.text!;
    assert.match(text, /^Hello Ada & Bob\n/, 'not upper-cased, not HTML-escaped');
    assert.match(text, /News from Paris & more\./);
    assert.match(text, /\* Paris/);
    assert.match(text, /Unsubscribe \[https:\/\/app\.example\.com\/unsubscribe\?newsletter_id=nl1&/);
    assert.ok(!text.includes('<') && !text.includes('logo.png'), text);
    // The HTML part is the HTML's, escaped as ever.
    assert.match(email.html!, /Hello Ada &amp; Bob/);
  });

  it('leaves the text part out where it would take an email over the size bound, which the HTML alone keeps to', () => {
    const html = '<p>{{big}}</p>';
    const textFallback = textTemplateFrom(html)!;
    const big = 'x'.repeat(MAX_RENDERED_CHARS / 2 + 1);
    const email = renderEmail(
      { subject: 's', html, from: 'a@example.com', tags: {} },
      { ...recipient, variables: { big } },
      { ...context, textFallback },
    );
    assert.equal(email.html!.length, big.length + '<p></p>'.length, 'the HTML goes out as before');
    assert.equal(email.text, undefined);
    const small = renderEmail({ subject: 's', html, from: 'a@example.com', tags: {} }, {
      ...recipient,
      variables: { big: 'small' },
    }, { ...context, textFallback });
    assert.equal(small.text, 'small');
  });

  it('answers the same for the same HTML, made once (kept, a "none" too)', () => {
    for (const html of ['<p>Hi {{name}}</p>', '<p>{{{raw}}}</p>']) {
      const first = textTemplateFrom(html);
      assert.equal(textTemplateFrom(html), first, html);
    }
    assert.equal(textTemplateFrom('<p>Hi {{name}}</p>'), 'Hi {{name}}');
    assert.equal(textTemplateFrom('<p>{{{raw}}}</p>'), undefined);
  });

  it('keeps the text a newsletter gives, and sends none where the HTML has no text form', () => {
    const textFallback = textTemplateFrom('<p>Hi {{name}}</p>')!;
    const given = renderEmail(
      { subject: 's', html: '<p>x</p>', text: 'Mine, {{name}}', from: 'a@example.com', tags: {} },
      recipient,
      {
        ...context,
        textFallback,
      },
    );
    assert.equal(given.text, 'Mine, Ada & Bob');
    for (
      const html of [
        '<p>{{{banner}}}</p>', // raw HTML from a variable: a text part would show its markup
        '<p>{{&banner}}</p>',
        '<script>{{#x}}</script><p>a</p>{{/x}}', // a section opened inside what the text leaves out
        '<img src="a.png">', // nothing to read
        `<p>${'x'.repeat(MAX_HTML_CHARS)}</p>`,
      ]
    ) {
      assert.equal(textTemplateFrom(html), undefined, html.slice(0, 40));
    }
  });
});
