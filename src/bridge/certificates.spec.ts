import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { certificates as testCertificates } from '../../test/support/certificates.ts';
import { Certificates } from './certificates.ts';

describe('Certificates', () => {
  const certs = testCertificates('certificates-spec');
  certs.ca('ca');
  certs.cert('server', 'ca');
  certs.cert('other', 'ca');
  after(() => certs.remove());

  it('keeps serving the last good pair when a reload finds one that does not work, and says so', async () => {
    const cert = certs.file('live.pem');
    const key = certs.file('live.key');
    copyFileSync(certs.file('server.pem'), cert);
    copyFileSync(certs.file('server.key'), key);
    const errors: Error[] = [];
    const served: string[] = [];
    const provider = await Certificates.load(
      { certFile: cert, keyFile: key, reloadMs: 3_600_000 },
      (e) => errors.push(e),
    );
    provider.addIdentityCertificateListener((update) => served.push(String(update?.certificate)));
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(served.length, 1);

    // Renewed one file after the other: the new certificate beside the old key.
    copyFileSync(certs.file('other.pem'), cert);
    await provider.reload();
    // Caught half-written: the header is there, the body is not.
    writeFileSync(cert, readFileSync(certs.file('server.pem'), 'utf8').slice(0, 100));
    copyFileSync(certs.file('server.key'), key);
    await provider.reload();
    provider.close();

    assert.equal(errors.length, 2, errors.map((e) => e.message).join('; '));
    assert.deepEqual(served, [readFileSync(certs.file('server.pem'), 'utf8')], 'only the good pair was served');
  });
});
