import { writeFileSync } from 'node:fs';
import { freePort, type RegtestNode } from '../../bitcoind/index.ts';
import type { TestPki } from './pki.ts';

/**
 * Writes a signer TOML file for a regtest node and a test PKI, on free loopback ports, so tests
 * and benchmarks can start the signer as an operator would (`signer/main.ts start --config`).
 * `custody` is the `[custody]` section's lines; `server` adds lines to `[server]`.
 */
export async function writeSignerToml(o: {
  readonly file: string;
  readonly pki: TestPki;
  readonly client: string;
  readonly node: Pick<RegtestNode, 'rpcUrl' | 'cookieFile'>;
  readonly paramsFile: string;
  readonly audit: string;
  readonly custody: readonly string[];
  readonly network?: string;
  readonly server?: readonly string[];
}): Promise<{ readonly port: number; readonly metricsPort: number }> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const clientCert = o.pki.clients[o.client];
  if (!clientCert) throw new Error(`no client certificate ${o.client} in the test PKI`);
  writeFileSync(
    o.file,
    [
      '[server]',
      `port = ${port}`,
      `tls_cert_file = "${o.pki.server.cert}"`,
      `tls_key_file = "${o.pki.server.key}"`,
      `client_ca_file = "${o.pki.ca.cert}"`,
      `clients = [{ name = "${o.client}", fingerprint_sha256 = "${clientCert.fingerprint256}" }]`,
      ...(o.server ?? []),
      '[ops]',
      `port = ${metricsPort}`,
      '[params]',
      `file = "${o.paramsFile}"`,
      '[bitcoind]',
      `url = "${o.node.rpcUrl}"`,
      `cookie_file = "${o.node.cookieFile}"`,
      `network = "${o.network ?? 'regtest'}"`,
      '[audit]',
      `file = "${o.audit}"`,
      '[log]',
      'level = "warn"',
      '[custody]',
      ...o.custody,
      '',
    ].join('\n'),
  );
  return { port, metricsPort };
}
