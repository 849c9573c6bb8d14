import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { defaultPayloadConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import { GzipPayloadCodec, MAX_DECODED_BYTES } from './data-converter.ts';

const { Payload: PayloadMessage } = proto.temporal.api.common.v1;

describe('the payload codec', () => {
  it('round-trips a large payload (a newsletter at the API size limit)', async () => {
    const codec = new GzipPayloadCodec();
    const value = { recipients: 'x'.repeat(24 * 1024 * 1024) };
    const [encoded] = await codec.encode([defaultPayloadConverter.toPayload(value)]);
    assert.ok(encoded!.data!.length < 1024 * 1024, 'stored compressed');
    const [decoded] = await codec.decode([encoded!]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(decoded!), value);
  });

  it('refuses a payload that inflates past its bound (a gzip bomb written straight to Temporal), naming why', async () => {
    const codec = new GzipPayloadCodec();
    const inner = PayloadMessage.encode({ data: new Uint8Array(MAX_DECODED_BYTES + 1024) }).finish();
    const bomb = { metadata: { encoding: new TextEncoder().encode('binary/gzip') }, data: gzipSync(inner) };
    assert.ok(bomb.data.length < 1024 * 1024, `${bomb.data.length} bytes stored`);
    await assert.rejects(codec.decode([bomb]), /inflates past 64 MiB/);
  });
});
