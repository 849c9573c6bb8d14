import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_RENDERED_CHARS, renderEmail } from './templating.ts';
import { made, textTemplateFrom } from './text-part.ts';
import { TEXT_PART_MAX_HTML_CHARS } from './types.ts';

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

  it("leaves the text part out where it would take an email over the smallest provider's limits (Postmark: 10 MB, 5 MB a body)", () => {
    const html = '<p>{{big}}</p>';
    const textFallback = textTemplateFrom(html)!;
    const render = (size: number) =>
      renderEmail(
        { subject: 's', html, from: 'a@example.com', tags: {} },
        { ...recipient, variables: { big: 'x'.repeat(size) } },
        { ...context, textFallback },
      );
    assert.equal(render(4 * 1024 * 1024).text?.length, 4 * 1024 * 1024, '4 MB twice: within 10 MB');
    const big = render(6 * 1024 * 1024);
    assert.equal(big.html!.length, 6 * 1024 * 1024 + '<p></p>'.length, 'the HTML goes out as before');
    assert.equal(big.text, undefined, 'a 6 MB text body, and 12 MB in all: over Postmark');
  });

  it('makes the text of an HTML template once, and answers from what it kept after that (a "none" too)', () => {
    made.clear();
    assert.equal(textTemplateFrom('<p>Hi {{name}}</p>'), 'Hi {{name}}');
    assert.equal(textTemplateFrom('<p>{{{raw}}}</p>'), undefined);
    assert.deepEqual([made.get('<p>Hi {{name}}</p>'), made.get('<p>{{{raw}}}</p>')], ['Hi {{name}}', null], 'kept');
    // What is kept is what later calls answer (not made again).
    made.set('<p>Hi {{name}}</p>', 'kept: {{name}}');
    assert.equal(textTemplateFrom('<p>Hi {{name}}</p>'), 'kept: {{name}}');
    made.clear();
  });

  it('puts each row and cell of a table layout on a line of its own', () => {
    const html = '<table><tr><td>Price</td><td>{{price}}</td></tr><tr><td>Name</td><td>{{name}}</td></tr></table>';
    assert.equal(textTemplateFrom(html), 'Price\n{{price}}\nName\n{{name}}');
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
        `<p>${'x'.repeat(TEXT_PART_MAX_HTML_CHARS)}</p>`,
        '<p>Write &#123;&#123;name&#125;&#125; in a template</p>', // braces shown, which the text would make a tag
      ]
    ) {
      assert.equal(textTemplateFrom(html), undefined, html.slice(0, 40));
    }
  });
});
