/**
 * The plain-text part of an HTML-only newsletter: made once per template from its HTML (the
 * markup gone, the Mustache tags kept), then personalized per recipient like any text template.
 * Resend writes a text part itself when it is sent none; Postmark does not, and an email without
 * one is more often taken for spam. Made here, both providers send the same one.
 */
import { compile } from 'html-to-text';
import Mustache from 'mustache';
import { TemplateCache } from './templating.ts';

/** MAX_HTML_CHARS: a larger HTML template gets no text part (made once per worker, but its cost grows with it). */
export const MAX_HTML_CHARS = 1024 * 1024;

/** convert turns HTML into text; its options are compiled once, at load (a bad one fails there, not per email). */
const convert = compile({
  // No line breaks of its own: one inside a tag ({{ name }}) would be the template's, not the reader's.
  wordwrap: false,
  selectors: [
    // A heading in capitals would turn {{name}} into {{NAME}}, another variable (tables are plain blocks: no headers).
    ...[1, 2, 3, 4, 5, 6].map((level) => ({ selector: `h${level}`, options: { uppercase: false } })),
    // An image says nothing in text (its alt text would come without its picture).
    { selector: 'img', format: 'skip' },
  ],
});

/** made keeps the text template of the most recently used HTML templates (null: none can be made). */
const made = new TemplateCache<string | null>(4 * MAX_HTML_CHARS);

/**
 * textTemplateFrom is the text template made from an HTML template, or undefined when none can
 * be: the HTML is over MAX_HTML_CHARS, it inserts raw HTML ({{{x}}} or {{&x}}, markup a text
 * part would show as is), or what is left is empty or no longer a template (a section's opening
 * tag dropped with the markup around it, as a script's or a style's content is).
 */
export function textTemplateFrom(html: string): string | undefined {
  if (html.length > MAX_HTML_CHARS) return undefined;
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
    if (!text) return undefined;
    Mustache.parse(text);
    return text;
  } catch {
    return undefined;
  }
}
