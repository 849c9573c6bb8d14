import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { postmarkClientOptions } from './index.ts';

describe('postmarkClientOptions', () => {
  it('derives host, port, path prefix and scheme from POSTMARK_BASE_URL', () => {
    assert.deepEqual(postmarkClientOptions('http://127.0.0.1:4011'), {
      useHttps: false,
      requestHost: '127.0.0.1:4011',
    });
    assert.deepEqual(postmarkClientOptions('https://api.postmarkapp.com'), {
      useHttps: true,
      requestHost: 'api.postmarkapp.com',
    });
    assert.deepEqual(postmarkClientOptions('http://mock.local:8080/postmark/'), {
      useHttps: false,
      requestHost: 'mock.local:8080/postmark',
    });
  });
});
