import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A certificate and its key on disk, with the SHA-256 fingerprint Node reports for it. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
  readonly fingerprint256: string;
}

export interface TestPki {
  readonly dir: string;
  /** The CA that issues the server certificate and the client certificates. */
  readonly ca: CertFiles;
  readonly server: CertFiles;
  readonly clients: Readonly<Record<string, CertFiles>>;
  /** A second, unrelated CA and a client certificate it issued. */
  readonly otherCa: CertFiles;
  readonly otherClient: CertFiles;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function fingerprint(certPath: string): string {
  return new X509Certificate(readFileSync(certPath)).fingerprint256;
}

function makeCa(dir: string, name: string): CertFiles {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    key,
    '-sha256',
    '-days',
    '30',
    '-subj',
    `/CN=${name}`,
    '-out',
    cert,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { cert, key, fingerprint256: fingerprint(cert) };
}

function issue(dir: string, ca: CertFiles, name: string, usage: 'serverAuth' | 'clientAuth'): CertFiles {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', csr]);
  const san = usage === 'serverAuth' ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' : '';
  execFileSync('sh', [
    '-c',
    `printf '%s' "$0" > "$1"`,
    `${san}extendedKeyUsage=${usage}\nkeyUsage=critical,digitalSignature\n`,
    ext,
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-days',
    '30',
    '-sha256',
    '-extfile',
    ext,
    '-out',
    cert,
  ]);
  return { cert, key, fingerprint256: fingerprint(cert) };
}

/**
 * Makes a throw-away PKI with the machine's openssl: a CA, a server certificate for 127.0.0.1,
 * one client certificate per name, and a second CA with a client of its own (for "another CA" tests).
 * EC P-256 keys, so it takes a fraction of a second.
 */
export function makeTestPki(dir: string, clientNames: readonly string[]): TestPki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = makeCa(dir, 'test-ca');
  const server = issue(dir, ca, 'signer-server', 'serverAuth');
  const clients: Record<string, CertFiles> = {};
  for (const n of clientNames) clients[n] = issue(dir, ca, n, 'clientAuth');
  const otherCa = makeCa(dir, 'other-ca');
  const otherClient = issue(dir, otherCa, 'other-client', 'clientAuth');
  return { dir, ca, server, clients, otherCa, otherClient };
}
