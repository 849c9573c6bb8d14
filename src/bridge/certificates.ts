/**
 * The bridge's TLS files as grpc-js takes them (a CertificateProvider): read at start, again
 * every GRPC_TLS_RELOAD_MS and whenever reload() is called (on SIGHUP, main.ts). New
 * connections get what was read last; open connections and their streams go on untouched.
 *
 * grpc-js's own FileWatcherCertificateProvider re-reads on a timer only and, when a read
 * fails (a renewal caught half-written), hands the server "no certificate": every new
 * connection then fails until the next read. Here a failed read keeps the last good files
 * and is reported through onError, and so do files that read but do not work together (a
 * renewal caught half-written, a new certificate beside the old key): grpc-js would drop every
 * new connection with them.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { experimental } from '@grpc/grpc-js';

type IdentityListener = experimental.IdentityCertificateUpdateListener;
type CaListener = experimental.CaCertificateUpdateListener;

/** CertificateFiles names the PEM files to serve: an identity (certificate and key), a CA, or both. */
export interface CertificateFiles {
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  reloadMs: number;
}

const pem = async (path: string): Promise<Buffer> => {
  const content = await readFile(path);
  if (!content.includes('-----BEGIN ')) throw new Error(`${path} holds no PEM block`);
  return content;
};

export class Certificates implements experimental.CertificateProvider {
  readonly #files: CertificateFiles;
  readonly #onError: (err: Error) => void;
  #identity: experimental.IdentityCertificateUpdate | null = null;
  #ca: experimental.CaCertificateUpdate | null = null;
  readonly #identityListeners = new Set<IdentityListener>();
  readonly #caListeners = new Set<CaListener>();
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(files: CertificateFiles, onError: (err: Error) => void) {
    this.#files = files;
    this.#onError = onError;
  }

  /** load reads the files once; it fails (naming no secret, only paths) when they cannot be read. */
  static async load(files: CertificateFiles, onError: (err: Error) => void): Promise<Certificates> {
    const certificates = new Certificates(files, onError);
    await certificates.#read();
    certificates.#timer = setInterval(() => void certificates.reload(), files.reloadMs);
    certificates.#timer.unref?.();
    return certificates;
  }

  /** reload reads the files now; on failure the last good ones stay in service. */
  async reload(): Promise<void> {
    try {
      await this.#read();
    } catch (err) {
      this.#onError(err as Error);
    }
  }

  /** close stops the periodic re-read. */
  close(): void {
    clearInterval(this.#timer);
  }

  async #read(): Promise<void> {
    const { certFile, keyFile, caFile } = this.#files;
    const [certificate, privateKey, caCertificate] = await Promise.all([
      certFile ? pem(certFile) : undefined,
      keyFile ? pem(keyFile) : undefined,
      caFile ? pem(caFile) : undefined,
    ]);
    try {
      createSecureContext({ cert: certificate, key: privateKey, ca: caCertificate });
    } catch (err) {
      const files = [certFile, keyFile, caFile].filter(Boolean).join(', ');
      throw new Error(`${files}: not a usable certificate, key and CA (${(err as Error).message})`);
    }
    if (certificate && privateKey) {
      this.#identity = { certificate, privateKey };
      for (const listener of this.#identityListeners) listener(this.#identity);
    }
    if (caCertificate) {
      this.#ca = { caCertificate };
      for (const listener of this.#caListeners) listener(this.#ca);
    }
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    if (this.#identity) queueMicrotask(() => listener(this.#identity));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    if (this.#ca) queueMicrotask(() => listener(this.#ca));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
  }
}
