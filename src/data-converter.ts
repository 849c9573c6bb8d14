/**
 * The data converter every Temporal client and worker of this service uses: JSON
 * payloads, compressed with gzip by a payload codec. Workflow inputs, continue-as-new
 * state, activity inputs and results and heartbeat details are stored compressed, so a
 * newsletter's templates and inline recipients take a fraction of Temporal's 2 MiB
 * payload limit. Payloads under 256 bytes are left as they are (gzip would grow them).
 *
 * The Temporal UI and CLI show compressed payloads as `binary/gzip`; decode one with
 * `decodePayload` (or `zcat` of its base64-decoded data).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { type DataConverter, defaultPayloadConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

// The package is CommonJS: its namespaces come through the default import.
const { Payload: PayloadMessage } = proto.temporal.api.common.v1;
const ENCODING = 'binary/gzip';
const MIN_BYTES = 256;
/**
 * MAX_DECODED_BYTES bounds what one payload may inflate to, well above anything the service
 * writes (a workflow input is at most half of it as JSON, src/bridge/validation.ts): a payload written straight to Temporal by
 * someone else (a gzip bomb) fails its task instead of taking every worker's memory in turn.
 */
export const MAX_DECODED_BYTES = 64 * 1024 * 1024;
const encoder = new TextEncoder();

/** GzipPayloadCodec compresses each payload (metadata and data) into one gzip payload. */
export class GzipPayloadCodec implements PayloadCodec {
  encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(payloads.map((payload) => {
      if ((payload.data?.length ?? 0) < MIN_BYTES) return payload;
      return {
        metadata: { encoding: encoder.encode(ENCODING) },
        data: gzipSync(PayloadMessage.encode(payload).finish()),
      };
    }));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve().then(() =>
      payloads.map((payload) => {
        const encoding = payload.metadata?.encoding;
        if (!encoding || new TextDecoder().decode(encoding) !== ENCODING) return payload;
        return PayloadMessage.decode(inflate(payload.data!)) as Payload;
      })
    );
  }
}

function inflate(data: Uint8Array): Uint8Array {
  try {
    return gunzipSync(data, { maxOutputLength: MAX_DECODED_BYTES });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') throw err;
    throw new Error(`a ${ENCODING} payload inflates past ${MAX_DECODED_BYTES / 1024 / 1024} MiB: refused`);
  }
}

const codec = new GzipPayloadCodec();

/** dataConverter is the converter for Client and Worker options. */
export const dataConverter: DataConverter = { payloadCodecs: [codec] };

/** encodedSize is how many bytes value takes as a stored payload (after compression). */
export async function encodedSize(value: unknown): Promise<number> {
  const [payload] = await codec.encode([defaultPayloadConverter.toPayload(value)]);
  return PayloadMessage.encode(payload!).finish().length;
}

/** decodePayload turns a stored payload back into its value. */
export async function decodePayload<T>(payload: Payload): Promise<T> {
  const [decoded] = await codec.decode([payload]);
  return defaultPayloadConverter.fromPayload<T>(decoded!);
}
