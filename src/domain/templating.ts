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

function shapeFrom(tokens: unknown[]): TemplateShape {
  let text = 0;
  const counts = new Map<string, number>();
  eachToken(tokens, ([type, value]) => {
    if (type === 'text') text += value.length;
    else if (type === 'name' || type === '&') counts.set(value, (counts.get(value) ?? 0) + 1);
  });
  return { text, tags: [...counts] };
}

/** ParsedTemplate is a template with its tokens and shape, ready to render for any number of recipients. */
interface ParsedTemplate {
  source: string;
  tokens: Token[];
  shape: TemplateShape;
}

/**
 * ParsedTemplates parses each template once, however many recipients it is rendered for: one per
 * batch. The process-wide caches keep only templates up to 2 MB between batches, so without it a
 * larger one (a body may be 5 MB) was parsed twice per recipient; Mustache makes a token of every
 * character it parses, and a 5 MB body held a worker's event loop for seconds each time.
 */
export class ParsedTemplates {
  readonly #parsed = new Map<string, ParsedTemplate>();

  /** get parses source, or answers its earlier parse; Mustache's errors are thrown as they are. */
  get(source: string): ParsedTemplate {
    let parsed = this.#parsed.get(source);
    if (!parsed) {
      const tokens = Mustache.parse(source) as Token[];
      let shape = shapes.get(source);
      if (!shape) {
        shape = shapeFrom(tokens);
        shapes.set(source, shape);
      }
      parsed = { source, tokens, shape };
      this.#parsed.set(source, parsed);
    }
    return parsed;
  }
}

/** NO_PARTIALS: `{{> name}}` renders nothing (a plain object would offer Object's members as partials). */
const NO_PARTIALS = (): undefined => undefined;

/**
 * writer renders parsed tokens. It parses only a lambda's or partial's text, neither of which can
 * happen here (values are strings, partials are NO_PARTIALS); and should it parse, it keeps nothing:
 * a Writer's own cache is unbounded.
 */
const writer = new Mustache.Writer();
(writer as { templateCache?: unknown }).templateCache = undefined;

/** renderParsed renders a parsed template for view, escaping values with escaping. */
function renderParsed(parsed: ParsedTemplate, view: Record<string, string>, escaping: Mustache.RenderOptions): string {
  return writer.renderTokens(
    parsed.tokens as unknown as string[][],
    new Mustache.Context(view),
    NO_PARTIALS,
    parsed.source,
    escaping,
  );
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
    let parsed: ParsedTemplate;
    try {
      parsed = new ParsedTemplates().get(template);
    } catch (err) {
      throw new TemplateError(field, `does not compile: ${err instanceof Error ? err.message : String(err)}`);
    }
    let deepest = 0;
    let dotted: string | undefined;
    eachToken(parsed.tokens, ([type, name], depth) => {
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
      renderParsed(parsed, Object.create(null), {});
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
function renderedLengthBound(template: ParsedTemplate, view: Record<string, string>, escaped: boolean): number {
  const lengthOf = (name: string): number => {
    // `.` is the value of the section it is in, and a dotted name may reach it through a
    // string's prototype (templates of newsletters begun before dotted names were refused).
    const values = name.includes('.') ? Object.values(view) : name in view ? [view[name]!] : [];
    return Math.max(0, ...values.map((v) => (escaped ? escapedLength(v) : v.length))) +
      (name.includes('.') && name !== '.' ? 64 : 0);
  };
  const { text, tags } = template.shape;
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
    /** templates are the batch's parsed templates, shared by its recipients (parsed for this email alone without). */
    templates?: ParsedTemplates;
  },
): RenderedEmail {
  const templates = context.templates ?? new ParsedTemplates();
  const parsed = (template: string): ParsedTemplate => {
    try {
      return templates.get(template);
    } catch (err) {
      // Only templates of newsletters started before the bridge checked them can fail here.
      throw new RenderError(`its email does not render: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
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
  const subjectTemplate = parsed(content.subject);
  const htmlTemplate = content.html === undefined ? undefined : parsed(content.html);
  const textTemplate = content.text === undefined ? undefined : parsed(content.text);
  const bound = renderedLengthBound(subjectTemplate, view, false) +
    (htmlTemplate === undefined ? 0 : renderedLengthBound(htmlTemplate, view, true)) +
    (textTemplate === undefined ? 0 : renderedLengthBound(textTemplate, view, false));
  if (bound > MAX_RENDERED_CHARS) {
    throw new RenderError(
      `its email could be over ${
        MAX_RENDERED_CHARS / 1024 / 1024
      } MiB once its variables are in (up to ${bound} characters)`,
    );
  }
  // The text part made from the HTML comes only where it fits: content the API accepted renders as before.
  const fallbackTemplate = content.text === undefined && context.textFallback !== undefined
    ? parsed(context.textFallback)
    : undefined;
  const fallback = fallbackTemplate !== undefined &&
      bound + renderedLengthBound(fallbackTemplate, view, false) <= MAX_RENDERED_CHARS
    ? fallbackTemplate
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
  const renderWith = (template: ParsedTemplate, escaping: typeof plain) => {
    try {
      return renderParsed(template, view, escaping);
    } catch (err) {
      throw new RenderError(`its email does not render: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  // The subject is a header: control characters a variable brings (CR, LF) become spaces.
  const subject = renderWith(subjectTemplate, plain).replace(CONTROL_CHARACTERS_G, ' ');
  const htmlPart = htmlTemplate === undefined ? undefined : renderWith(htmlTemplate, html);
  return {
    to: recipient.email,
    from: content.from,
    replyTo: content.replyTo,
    subject,
    html: htmlPart,
    text: textTemplate !== undefined ? renderWith(textTemplate, plain) : madeText(subject, htmlPart),
    headers: {
      'List-Unsubscribe': `<${unsubscribe}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
    tags: content.tags,
    ids: { newsletterId: context.newsletterId, recipientId: recipient.recipientId },
  };
}
