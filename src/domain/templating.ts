/**
 * Templating: Mustache templates personalized per recipient. `{{key}}` is
 * HTML-escaped in html only; subject and text are plain text and never escaped
 * (HTML-escaped subject lines are a classic bug). `{{{key}}}` opts out of escaping.
 */
import { unsubscribeToken } from '../../contracts/http/unsubscribe.ts';
import Mustache from 'mustache';
import { Buffer } from 'node:buffer';
import { MAX_BODY_BYTES, type NewsletterContent, PROVIDER_MAX_MESSAGE_BYTES, type Recipient } from './types.ts';
import { CONTROL_CHARACTERS } from './addresses.ts';

/**
 * TemplateCache keeps what was made of the most recently used templates (parsed tokens, or their
 * shape), up to maxChars of template text. Mustache's own cache keeps every template the process
 * ever parsed (the bridge checks each request's, a worker renders each newsletter's), at about 26
 * times its size, for ever.
 */
export class TemplateCache<V = string> {
  readonly #entries = new Map<string, V>();
  #chars = 0;
  constructor(readonly maxChars: number) {}

  get chars(): number {
    return this.#chars;
  }

  get(key: string): V | undefined {
    const tokens = this.#entries.get(key);
    if (tokens !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, tokens);
    }
    return tokens;
  }

  set(key: string, tokens: V): void {
    if (key.length > this.maxChars) return; // parsed again at each use, never kept
    if (this.#entries.delete(key)) this.#chars -= key.length;
    this.#entries.set(key, tokens);
    this.#chars += key.length;
    for (const oldest of this.#entries.keys()) {
      if (this.#chars <= this.maxChars) break;
      this.#entries.delete(oldest);
      this.#chars -= oldest.length;
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#chars = 0;
  }
}

/** templateCache holds the parsed templates of every render and check in this process: a few newsletters' worth. */
export const templateCache: Mustache.TemplateCache & TemplateCache = new TemplateCache(2 * 1024 * 1024);
Mustache.templateCache = templateCache;

/** TemplateShape is what bounds a template's rendered length: its text, and how often it names each value. */
interface TemplateShape {
  text: number;
  tags: Array<[name: string, count: number]>;
}

/** shapes keeps the shape of each template rendered lately: computed once per template, not per recipient. */
const shapes = new TemplateCache<TemplateShape>(2 * 1024 * 1024);

function shapeOf(template: string): TemplateShape {
  let shape = shapes.get(template);
  if (!shape) {
    let text = 0;
    const counts = new Map<string, number>();
    eachToken(Mustache.parse(template), ([type, value]) => {
      if (type === 'text') text += value.length;
      else if (type === 'name' || type === '&') counts.set(value, (counts.get(value) ?? 0) + 1);
    });
    shape = { text, tags: [...counts] };
    shapes.set(template, shape);
  }
  return shape;
}

/** TemplateError is thrown when a template cannot be used (it does not compile, nests too deep, does not render); field names it. */
export class TemplateError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: template ${message}`);
    this.name = 'TemplateError';
    this.field = field;
  }
}

/** RenderedEmail is one recipient's finished email, provider-neutral. */
export interface RenderedEmail {
  to: string;
  from: string;
  replyTo?: string;
  subject: string;
  html?: string;
  text?: string;
  headers: Record<string, string>;
  tags: Record<string, string>;
  /** ids name the newsletter and recipient, for providers that keep them with the message (Postmark Metadata). */
  ids?: { newsletterId: string; recipientId: string };
}

const TEMPLATE_FIELDS = [
  ['subject', 'subject'],
  ['html', 'html_content'],
  ['text', 'text_content'],
] as const;

/**
 * MAX_SECTION_DEPTH bounds how deeply sections nest: Mustache parses any depth but renders
 * recursively, one stack frame per level, and overflows the stack a few thousand levels down.
 */
export const MAX_SECTION_DEPTH = 100;

/** checkTemplates parses and tries every template of the content, and throws TemplateError naming the first that cannot be used. */
export function checkTemplates(content: Pick<NewsletterContent, 'subject' | 'html' | 'text'>): void {
  for (const [key, field] of TEMPLATE_FIELDS) {
    const template = content[key];
    if (template === undefined) continue;
    let tokens: unknown[];
    try {
      tokens = Mustache.parse(template);
    } catch (err) {
      throw new TemplateError(field, `does not compile: ${err instanceof Error ? err.message : String(err)}`);
    }
    let deepest = 0;
    let dotted: string | undefined;
    eachToken(tokens, ([type, name], depth) => {
      deepest = Math.max(deepest, depth);
      // Values are plain strings: a dotted name would walk into a string's prototype (and its methods).
      if (TAG_TYPES.has(type) && name !== '.' && name.includes('.')) dotted ??= name;
    });
    if (deepest > MAX_SECTION_DEPTH) {
      throw new TemplateError(field, `sections are nested more than ${MAX_SECTION_DEPTH} deep`);
    }
    if (dotted !== undefined) {
      throw new TemplateError(
        field,
        `tag {{${dotted.slice(0, 64)}}}: a name with a dot is not supported (variables are plain strings)`,
      );
    }
    // One that throws with no values throws for every recipient: refused here, not failed per recipient.
    try {
      Mustache.render(template, Object.create(null), NO_PARTIALS);
    } catch (err) {
      throw new TemplateError(field, `does not render: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** Token is a parsed Mustache token: [type, value, start, end, children of a section, ...]. */
type Token = [string, string, number, number, Token[]?];

/** eachToken visits every token of a parsed template with its section depth (without recursion: depth is checked). */
function eachToken(tokens: unknown[], visit: (token: Token, depth: number) => void): void {
  const pending: Array<[Token[], number]> = [[tokens as Token[], 0]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [list, depth] = next;
    for (const token of list) {
      visit(token, depth);
      if (Array.isArray(token[4])) pending.push([token[4], depth + 1]);
    }
  }
}

/** TAG_TYPES are the tokens that name a value: {{x}}, {{{x}}} or {{&x}}, and sections. */
const TAG_TYPES = new Set(['name', '&', '#', '^']);

/**
 * unsubscribeUrl is the recipient's one-click unsubscribe link on the frontend, signed with
 * secret when there is one (contracts/http/unsubscribe.ts): edited, it does not verify.
 */
export function unsubscribeUrl(baseUrl: string, newsletterId: string, recipient: Recipient, secret?: string): string {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}/unsubscribe`);
  url.searchParams.set('newsletter_id', newsletterId);
  if (recipient.recipientId) url.searchParams.set('recipient_id', recipient.recipientId);
  url.searchParams.set('email', recipient.email);
  if (secret) {
    // An empty recipient_id is signed as one left out, as the link leaves it out.
    url.searchParams.set(
      'token',
      unsubscribeToken(secret, { newsletterId, recipientId: recipient.recipientId, email: recipient.email }),
    );
  }
  return url.toString();
}

const plain = { escape: (value: unknown) => String(value) };
const CONTROL_CHARACTERS_G = new RegExp(CONTROL_CHARACTERS.source, 'g');

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
// Mustache's default also escapes `/`, `=` and backticks, which mangles URLs in
// href attributes for no safety gain; these five are what HTML text and quoted attributes need.
const html = { escape: (value: unknown) => String(value).replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!) };

/** RenderError says why one recipient's email cannot be rendered: permanent for that recipient. */
export class RenderError extends Error {
  override name = 'RenderError';
}

/**
 * MAX_RENDERED_CHARS bounds one email's rendered subject and bodies before they are rendered: more than
 * any provider takes in one message (Resend's 40 MB). A template repeating a long variable could otherwise
 * build a string of gigabytes, and take the worker down on every retry.
 */
export const MAX_RENDERED_CHARS = 40 * 1024 * 1024;

/** EMAIL_OVERHEAD_BYTES is what an email carries besides its parts, generously: addresses, headers, tags, JSON. */
const EMAIL_OVERHEAD_BYTES = 16 * 1024;
/** SMALLEST_MESSAGE_BYTES is the smallest provider's limit on one email (Postmark's). */
const SMALLEST_MESSAGE_BYTES = Math.min(...Object.values(PROVIDER_MAX_MESSAGE_BYTES));

/** NO_PARTIALS: `{{> name}}` renders nothing (a plain object would offer Object's members as partials). */
const NO_PARTIALS = (): undefined => undefined;

/** escapedLength is how long value is once escaped as html escapes it. */
function escapedLength(value: string): number {
  let extra = 0;
  for (const match of value.matchAll(/[&<>"']/g)) extra += HTML_ENTITIES[match[0]]!.length - 1;
  return value.length + extra;
}

/**
 * renderedLengthBound is at most how long a template renders for a view: its text, and each tag's
 * value (escaped where it is), as if every section rendered once (values are strings: a section
 * renders at most once). `.` and dotted names are bounded by the longest value (dotted: and a little).
 */
function renderedLengthBound(template: string, view: Record<string, string>, escaped: boolean): number {
  const lengthOf = (name: string): number => {
    // `.` is the value of the section it is in, and a dotted name may reach it through a
    // string's prototype (templates of newsletters begun before dotted names were refused).
    const values = name.includes('.') ? Object.values(view) : name in view ? [view[name]!] : [];
    return Math.max(0, ...values.map((v) => (escaped ? escapedLength(v) : v.length))) +
      (name.includes('.') && name !== '.' ? 64 : 0);
  };
  const { text, tags } = shapeOf(template);
  let total = text;
  for (const [name, count] of tags) total += count * lengthOf(name);
  return total;
}

/**
 * renderEmail personalizes the content for one recipient, with RFC 8058 one-click unsubscribe
 * headers; RenderError when it cannot (its size bound, or a template that throws for this view).
 */
export function renderEmail(
  content: NewsletterContent,
  recipient: Recipient,
  context: {
    newsletterId: string;
    unsubscribeBaseUrl: string;
    unsubscribeSecret?: string;
    /** textFallback is the text template of content without one (text-part.ts), left out where it would not fit. */
    textFallback?: string;
  },
): RenderedEmail {
  const unsubscribe = unsubscribeUrl(
    context.unsubscribeBaseUrl,
    context.newsletterId,
    recipient,
    context.unsubscribeSecret,
  );
  // Built-ins win over same-named variables: a variable must not redirect the unsubscribe link. No
  // prototype: a template naming an object's members (toString, constructor) finds nothing there.
  const view: Record<string, string> = Object.assign(Object.create(null), recipient.variables, {
    name: recipient.name,
    email: recipient.email,
    unsubscribe_url: unsubscribe,
  });
  const bound = renderedLengthBound(content.subject, view, false) +
    (content.html === undefined ? 0 : renderedLengthBound(content.html, view, true)) +
    (content.text === undefined ? 0 : renderedLengthBound(content.text, view, false));
  if (bound > MAX_RENDERED_CHARS) {
    throw new RenderError(
      `its email could be over ${
        MAX_RENDERED_CHARS / 1024 / 1024
      } MiB once its variables are in (up to ${bound} characters)`,
    );
  }
  // The text part made from the HTML comes only where it fits: content the API accepted renders as before.
  const fallback = content.text === undefined && context.textFallback !== undefined &&
      bound + renderedLengthBound(context.textFallback, view, false) <= MAX_RENDERED_CHARS
    ? context.textFallback
    : undefined;
  /**
   * madeText is the text part made from the HTML where it leaves the email within every provider's
   * limits (a body's, and the smallest message's: Postmark's), else none: it never costs an email its delivery.
   */
  const madeText = (subject: string, htmlPart: string | undefined): string | undefined => {
    if (fallback === undefined) return undefined;
    const text = renderWith(fallback, plain);
    // A UTF-16 unit is at most 3 bytes in UTF-8: most emails are known to fit without measuring them.
    const chars = subject.length + (htmlPart?.length ?? 0) + text.length;
    if (3 * chars + EMAIL_OVERHEAD_BYTES <= SMALLEST_MESSAGE_BYTES && 3 * text.length <= MAX_BODY_BYTES) return text;
    const textBytes = Buffer.byteLength(text);
    const emailBytes = Buffer.byteLength(subject) + (htmlPart ? Buffer.byteLength(htmlPart) : 0) + textBytes +
      EMAIL_OVERHEAD_BYTES;
    return textBytes <= MAX_BODY_BYTES && emailBytes <= SMALLEST_MESSAGE_BYTES ? text : undefined;
  };
  const renderWith = (template: string, escaping: typeof plain) => {
    try {
      return Mustache.render(template, view, NO_PARTIALS, escaping);
    } catch (err) {
      throw new RenderError(`its email does not render: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  // The subject is a header: control characters a variable brings (CR, LF) become spaces.
  const subject = renderWith(content.subject, plain).replace(CONTROL_CHARACTERS_G, ' ');
  const htmlPart = content.html === undefined ? undefined : renderWith(content.html, html);
  return {
    to: recipient.email,
    from: content.from,
    replyTo: content.replyTo,
    subject,
    html: htmlPart,
    text: content.text !== undefined ? renderWith(content.text, plain) : madeText(subject, htmlPart),
    headers: {
      'List-Unsubscribe': `<${unsubscribe}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
    tags: content.tags,
    ids: { newsletterId: context.newsletterId, recipientId: recipient.recipientId },
  };
}
