import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { addressOf, isEntryPoint } from './main.ts';

describe('the CLI', () => {
  it('reaches the service where it binds: loopback for a wildcard, an IPv6 literal in brackets, --address first', () => {
    assert.equal(addressOf({}, {}), '127.0.0.1:50051');
    assert.equal(addressOf({}, { GRPC_HOST: '0.0.0.0', TEMPORAL_SERVER_PORT: '6000' }), '127.0.0.1:6000');
    assert.equal(addressOf({}, { GRPC_HOST: '::1' }), '[::1]:50051');
    assert.equal(addressOf({}, { GRPC_HOST: '[::1]' }), '[::1]:50051');
    assert.equal(addressOf({ address: 'bridge:7000' }, { GRPC_HOST: '::1' }), 'bridge:7000');
  });

  it('runs as the entry point also where import.meta.main does not exist (Node 22.15 to 22.17)', () => {
    const url = new URL('./main.ts', import.meta.url).href;
    assert.equal(isEntryPoint({ url }, fileURLToPath(url)), true);
    assert.equal(isEntryPoint({ url }, '/elsewhere/other.js'), false);
    assert.equal(isEntryPoint({ url, main: false }, fileURLToPath(url)), false);
  });
});
