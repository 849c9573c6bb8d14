/**
 * Certificates made at test time with openssl, in a temporary directory: a self-signed CA
 * and certificates it signs for 127.0.0.1, localhost and temporal.test. Used by the TLS suites.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** ALT_NAMES are the names every certificate but a CA's is for. */
const ALT_NAMES = 'IP:127.0.0.1,IP:::1,DNS:localhost,DNS:temporal.test';

/** Certificates is one directory of test certificates: <name>.pem and <name>.key. */
export interface Certificates {
  /** file is the path of a file in the directory, e.g. file('ca.pem'). */
  file(name: string): string;
  /** ca makes a self-signed CA named name. */
  ca(name: string): void;
  /** cert makes a certificate named name, signed by the CA named ca. */
  cert(name: string, ca: string): void;
  /** selfSigned makes a certificate named name for the same names, signed by its own key (no CA). */
  selfSigned(name: string): void;
  remove(): void;
}

/** certificates opens a fresh directory of test certificates. */
export function certificates(label: string): Certificates {
  const dir = mkdtempSync(join(tmpdir(), `${label}-`));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  /** selfSignedRequest makes <name>.pem and <name>.key, a certificate signed by its own key. */
  const selfSignedRequest = (name: string, ...extra: string[]) =>
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      ...extra,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.pem`),
    );
  return {
    file,
    ca(name) {
      selfSignedRequest(name);
    },
    cert(name, ca) {
      openssl(
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        `/CN=${name}`,
        '-keyout',
        file(`${name}.key`),
        '-out',
        file(`${name}.csr`),
      );
      writeFileSync(file(`${name}.ext`), `subjectAltName=${ALT_NAMES}\n`);
      openssl(
        'x509',
        '-req',
        '-in',
        file(`${name}.csr`),
        '-CA',
        file(`${ca}.pem`),
        '-CAkey',
        file(`${ca}.key`),
        '-CAcreateserial',
        '-days',
        '1',
        '-extfile',
        file(`${name}.ext`),
        '-out',
        file(`${name}.pem`),
      );
    },
    selfSigned(name) {
      selfSignedRequest(name, '-addext', `subjectAltName=${ALT_NAMES}`);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
