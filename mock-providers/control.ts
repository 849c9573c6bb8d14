/**
 * The /__mock HTTP control and inspection API, served on each provider's own port so a
 * container or a person running `make dev` can steer the mock without importing it.
 */

import { parseMailbox } from './addresses.ts';
import type { HttpAnswer } from './http.ts';
import { MockInputError, parseAddressKind, parseEmailList, parseFault, parseLatency, parseRateLimit } from './state.ts';
import type { ProviderState } from './state.ts';
import type { MockEventKind, WebhookTarget } from './webhooks.ts';

function ok(body: unknown = { ok: true }): HttpAnswer {
  return { status: 200, body };
}

function fail(status: number, message: string): HttpAnswer {
  return { status, body: { message } };
}

function jsonObject(body: Buffer): Record<string, unknown> {
  const text = body.toString('utf8').trim();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MockInputError('the body must be a JSON object');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MockInputError('the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

const ROUTES: Record<string, readonly string[]> = {
  '/__mock/health': ['GET'],
  '/__mock/emails': ['GET'],
  '/__mock/calls': ['GET'],
  '/__mock/stats': ['GET'],
  '/__mock/faults': ['POST', 'DELETE'],
  '/__mock/latency': ['POST'],
  '/__mock/addresses': ['POST'],
  '/__mock/rate-limit': ['POST'],
  '/__mock/reset': ['POST'],
  '/__mock/webhooks': ['POST', 'DELETE'],
  '/__mock/events': ['POST'],
};

/** parseWebhookTarget reads `{url, secret?, user?, password?}`. */
function parseWebhookTarget(input: Record<string, unknown>): WebhookTarget {
  const text = (key: string) => {
    const value = input[key];
    if (value !== undefined && typeof value !== 'string') throw new MockInputError(`${key} must be a string`);
    return value as string | undefined;
  };
  const url = text('url');
  if (!url || !URL.canParse(url)) throw new MockInputError('url must be an absolute URL');
  const [secret, user, password] = [text('secret'), text('user'), text('password')];
  return {
    url,
    ...(secret ? { secret } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
  };
}

/** handleControl answers one /__mock request; bad input gives 400 with a JSON message. */
export async function handleControl(
  state: ProviderState,
  method: string,
  path: string,
  query: URLSearchParams,
  body: Buffer,
): Promise<HttpAnswer> {
  const methods = ROUTES[path];
  if (!methods) return fail(404, `unknown control endpoint ${path}; known: ${Object.keys(ROUTES).join(', ')}`);
  if (!methods.includes(method)) return fail(405, `${path} accepts ${methods.join(', ')}`);
  try {
    switch (`${method} ${path}`) {
      case 'GET /__mock/health':
        return ok({ status: 'ok', provider: state.provider });
      case 'GET /__mock/emails': {
        const to = query.get('to');
        let emails = state.received();
        if (to !== null) {
          const wanted = parseMailbox(to) ?? to.trim().toLowerCase();
          emails = emails.filter((email) =>
            email.to.some((recipient) => (parseMailbox(recipient) ?? recipient.toLowerCase()) === wanted)
          );
        }
        return ok({ emails });
      }
      case 'GET /__mock/calls':
        return ok({ calls: state.calls() });
      case 'GET /__mock/stats':
        return ok(state.stats());
      case 'POST /__mock/faults':
        state.injectFault(parseFault(jsonObject(body)));
        return ok();
      case 'DELETE /__mock/faults':
        state.clearFaults();
        return ok();
      case 'POST /__mock/latency':
        state.setLatency(parseLatency(jsonObject(body)['ms']));
        return ok();
      case 'POST /__mock/addresses': {
        const input = jsonObject(body);
        state.failAddresses(parseAddressKind(input['kind']), parseEmailList(input['emails']));
        return ok();
      }
      case 'POST /__mock/rate-limit': {
        const input = jsonObject(body);
        if (!('requestsPerSecond' in input)) {
          throw new MockInputError('requestsPerSecond is required (a positive integer or null)');
        }
        state.setRateLimit(parseRateLimit(input['requestsPerSecond']));
        return ok();
      }
      case 'POST /__mock/reset':
        state.reset();
        return ok();
      case 'POST /__mock/webhooks':
        state.setWebhook(parseWebhookTarget(jsonObject(body)));
        return ok();
      case 'DELETE /__mock/webhooks':
        state.setWebhook(null);
        return ok();
      case 'POST /__mock/events': {
        // {"kind": "bounced", "to": ["a@example.com"], "times": 1}: the webhook for each email sent to them.
        const input = jsonObject(body);
        const times = input['times'] ?? 1;
        if (!Number.isInteger(times) || (times as number) < 1 || (times as number) > 10) {
          throw new MockInputError('times must be an integer from 1 to 10');
        }
        const statuses = await state.emitEvents(input['kind'] as MockEventKind, parseEmailList(input['to']), {
          times: times as number,
        });
        return ok({ statuses });
      }
      default:
        return fail(404, `unknown control endpoint ${path}`);
    }
  } catch (error) {
    if (error instanceof MockInputError) return fail(400, error.message);
    throw error;
  }
}
