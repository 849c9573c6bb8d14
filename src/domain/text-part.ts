/**
 * The plain-text part of an HTML-only newsletter: made once per template from its HTML (the
 * markup gone, the Mustache tags kept), then personalized per recipient like any text template.
 * Resend writes a text part itself when it is sent none; Postmark does not, and an email without
 * one is more often taken for spam. Made here, both providers send the same one.
 */
import { compile } from 'html-to-text';
import Mustache from 'mustache';
import { TemplateCache } from './templating.ts';
import { TEXT_PART_MAX_HTML_CHARS } from './types.ts';

/** convert turns HTML into text; its options are compiled once, at load (a bad one fails there, not per email). */
const convert = compile({
  // No line breaks of its own: one inside a tag ({{ name }}) would be the template's, not the reader's.
  wordwrap: false,
  selectors: [
    // A heading in capitals would turn {{name}} into {{NAME}}, another variable.
    ...[1, 2, 3, 4, 5, 6].map((level) => ({ selector: `h${level}`, options: { uppercase: false } })),
    // Newsletters are laid out in tables: each row and cell on a line of its own (else "Price{{price}}Name…" runs on).
    ...['tr', 'td', 'th'].map((selector) => ({
      selector,
      format: 'block',
      options: { leadingLineBreaks: 1, trailingLineBreaks: 1 },
    })),
    // An image says nothing in text (its alt text would come without its picture).
    { selector: 'img', format: 'skip' },
  ],
});

/** made keeps the text template of the most recently used HTML templates (null: none can be made). */
export const made = new TemplateCache<string | null>(4 * TEXT_PART_MAX_HTML_CHARS);

/**
 * textTemplateFrom is the text template made from an HTML template, or undefined when none can
 * be: the HTML is over TEXT_PART_MAX_HTML_CHARS, it inserts raw HTML ({{{x}}} or {{&x}}, markup a
 * text part would show as is), it writes braces as entities (&#123;: the text would turn them into
 * tags), or what is left is empty or no longer a template (a section's opening tag dropped with
 * the markup around it, as a script's or a style's content is).
 */
export function textTemplateFrom(html: string): string | undefined {
  if (html.length > TEXT_PART_MAX_HTML_CHARS) return undefined;
  const known = made.get(html);
  if (known !== undefined) return known ?? undefined;
  const text = make(html);
  made.set(html, text ?? null);
  return text;
}

function make(html: string): string | undefined {
  try {
    if (
      Mustache.parse(html).some(function raw(token: unknown[]): boolean {
        return token[0] === '&' || (Array.isArray(token[4]) && (token[4] as unknown[][]).some(raw));
      })
    ) {
      return undefined;
    }
    const text = convert(html).trim();
    if (!text || text.split('{{').length > html.split('{{').length) return undefined;
    Mustache.parse(text);
    return text;
  } catch {
    return undefined;
  }
}
