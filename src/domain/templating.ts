/**
 * Templating: Mustache templates personalized per recipient. `{{key}}` is
 * HTML-escaped in html only; subject and text are plain text and never escaped
 * (HTML-escaped subject lines are a classic bug). `{{{key}}}` opts out of escaping.
 */
import Mustache from 'mustache';
import type { NewsletterContent, Recipient } from './types.ts';
import { CONTROL_CHARACTERS } from './addresses.ts';

/**
 * TemplateCache keeps the most recently used parsed templates, up to maxChars of template
 * text. Mustache's own cache keeps every template the process ever parsed (the bridge checks
 * each request's, a worker renders each newsletter's), at about 26 times its size, for ever.
 */
export class TemplateCache implements Mustache.TemplateCache {
  readonly #entries = new Map<string, string>();
  #chars = 0;
  constructor(readonly maxChars: number) {}

  get chars(): number {
    return this.#chars;
  }

  get(key: string): string | undefined {
    const tokens = this.#entries.get(key);
    if (tokens !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, tokens);
    }
    return tokens;
  }

  set(key: string, tokens: string): void {
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
export const templateCache = new TemplateCache(2 * 1024 * 1024);
Mustache.templateCache = templateCache;

/** TemplateError is thrown when a template does not compile; field names the template. */
export class TemplateError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: template does not compile: ${message}`);
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

/** checkTemplates parses every template of the content and throws TemplateError naming the first that does not compile. */
export function checkTemplates(content: Pick<NewsletterContent, 'subject' | 'html' | 'text'>): void {
  for (const [key, field] of TEMPLATE_FIELDS) {
    const template = content[key];
    if (template === undefined) continue;
    let tokens: unknown[];
    try {
      tokens = Mustache.parse(template);
    } catch (err) {
      throw new TemplateError(field, err instanceof Error ? err.message : String(err));
    }
    if (sectionDepth(tokens) > MAX_SECTION_DEPTH) {
      throw new TemplateError(field, `sections nested more than ${MAX_SECTION_DEPTH} deep`);
    }
  }
}

/** sectionDepth is how deeply a parsed template's sections nest (without recursion: the depth is what is checked). */
function sectionDepth(tokens: unknown[]): number {
  let deepest = 0;
  const pending: Array<[unknown[], number]> = [[tokens, 0]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [list, depth] = next;
    deepest = Math.max(deepest, depth);
    // A section's token is [type, name, start, end, children, ...]: its children are one level down.
    for (const token of list) {
      const children = (token as unknown[])[4];
      if (Array.isArray(children)) pending.push([children, depth + 1]);
    }
  }
  return deepest;
}

/** unsubscribeUrl is the recipient's one-click unsubscribe link on the frontend. */
export function unsubscribeUrl(baseUrl: string, newsletterId: string, recipient: Recipient): string {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}/unsubscribe`);
  url.searchParams.set('newsletter_id', newsletterId);
  if (recipient.recipientId) url.searchParams.set('recipient_id', recipient.recipientId);
  url.searchParams.set('email', recipient.email);
  return url.toString();
}

const plain = { escape: (value: unknown) => String(value) };
const CONTROL_CHARACTERS_G = new RegExp(CONTROL_CHARACTERS.source, 'g');

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
// Mustache's default also escapes `/`, `=` and backticks, which mangles URLs in
// href attributes for no safety gain; these five are what HTML text and quoted attributes need.
const html = { escape: (value: unknown) => String(value).replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!) };

/** renderEmail personalizes the content for one recipient, with RFC 8058 one-click unsubscribe headers. */
export function renderEmail(
  content: NewsletterContent,
  recipient: Recipient,
  context: { newsletterId: string; unsubscribeBaseUrl: string },
): RenderedEmail {
  const unsubscribe = unsubscribeUrl(context.unsubscribeBaseUrl, context.newsletterId, recipient);
  // Built-ins win over same-named variables: a variable must not redirect the unsubscribe link.
  const view = { ...recipient.variables, name: recipient.name, email: recipient.email, unsubscribe_url: unsubscribe };
  return {
    to: recipient.email,
    from: content.from,
    replyTo: content.replyTo,
    // The subject is a header: control characters a variable brings (CR, LF) become spaces.
    subject: Mustache.render(content.subject, view, {}, plain).replace(CONTROL_CHARACTERS_G, ' '),
    html: content.html === undefined ? undefined : Mustache.render(content.html, view, {}, html),
    text: content.text === undefined ? undefined : Mustache.render(content.text, view, {}, plain),
    headers: {
      'List-Unsubscribe': `<${unsubscribe}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
    tags: content.tags,
    ids: { newsletterId: context.newsletterId, recipientId: recipient.recipientId },
  };
}
