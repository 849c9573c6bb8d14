/**
 * The backend contract as a validator: the schemas of contracts/http/backend.openapi.yaml
 * (OpenAPI 3.1: JSON Schema 2020-12), compiled with Ajv, so tests check what the service
 * really sends against what the contract says, not against the service's own types.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

const CONTRACT = new URL('../../contracts/http/backend.openapi.yaml', import.meta.url);

/** openapi is the parsed contract document. */
export const openapi = parse(readFileSync(CONTRACT, 'utf8')) as {
  components: { schemas: Record<string, unknown> };
  paths: Record<string, unknown>;
};

const ajv = new Ajv2020({ allErrors: true, strict: false });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
ajv.addSchema({ $id: 'backend', components: openapi.components });

/** contractViolations lists how body breaks the named schema (empty: it conforms). */
export function contractViolations(schema: string, body: unknown): string[] {
  const validate = ajv.getSchema(`backend#/components/schemas/${schema}`);
  if (!validate) throw new Error(`no schema ${schema} in ${CONTRACT.pathname}`);
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${schema}${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}
