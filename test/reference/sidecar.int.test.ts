import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpointOf, SignerClient } from '../../pipeline/signerClient.ts';
import {
  parseTransaction,
  type SignUnbondingResponse,
  unbondingSighash,
  verifySchnorr,
} from '../../staking/index.ts';
import { newFileCustody, type TestFileCustody } from '../infra/fileCustody.ts';
import type { CertFiles } from '../infra/pki.ts';
import { freePort } from '../infra/ports.ts';
import { type SignerHarness, type Stake, startSignerHarness } from '../infra/signerHarness.ts';

/**
 * The supported way to serve Babylon's reference signer client, which speaks plain HTTP and shows no
 * client certificate (covenant-signer.md §1.2, babylonchain/covenant-signer signerservice/client.go;
 * cli-tools' `urls = ["http://<pk>@host:port"]`, §1.9): deploy/sidecar/stunnel.conf on the caller's
 * host, run here as shipped but for its paths and ports, against a real signer with file custody
 * and a real node. The signer itself stays mutual-TLS only.
 */
const SIDECAR_CONF = new URL('../../deploy/sidecar/stunnel.conf', import.meta.url);
const ROUTE = '/v1/sign-unbonding-tx';

let h: SignerHarness;
let keys: TestFileCustody;
let dir: string;
let stake: Stake;
const sidecars: ChildProcess[] = [];

/** The shipped config with this run's values put in place of its options, option by option. */
function sidecarConfig(o: { accept: number; connect: string; identity: CertFiles; caFile: string }): string {
  const values: Record<string, string> = {
    accept: `127.0.0.1:${o.accept}`,
    connect: o.connect,
    cert: o.identity.cert,
    key: o.identity.key,
    CAfile: o.caFile,
    // The test PKI's server certificate names localhost and 127.0.0.1 (test/infra/pki.ts).
    checkHost: 'localhost',
  };
  const seen = new Set<string>();
  const text = readFileSync(SIDECAR_CONF, 'utf8').replace(/^(\w+) = .*$/gm, (line, option: string) => {
    if (!(option in values)) return line;
    seen.add(option);
    return `${option} = ${values[option]}`;
  });
  // The shipped file must still have every option this test replaces, or it tests something else.
  expect([...seen].sort()).toEqual(Object.keys(values).sort());
  return text;
}

async function startSidecar(name: string, identity: CertFiles): Promise<{ url: string; log: () => string }> {
  const accept = await freePort();
  const file = join(dir, `${name}.conf`);
  writeFileSync(
    file,
    sidecarConfig({
      accept,
      connect: new URL(h.signer.url).host,
      identity,
      caFile: h.pki.ca.cert,
    }),
  );
  const child = spawn('stunnel4', [file], { stdio: ['ignore', 'ignore', 'pipe'] });
  sidecars.push(child);
  let log = '';
  child.stderr?.on('data', (c: Buffer) => {
    log += c.toString('utf8');
  });
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`stunnel4 exited at start: ${log}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(accept, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100) throw new Error(`stunnel4 did not listen on ${accept}: ${log}`);
    await delay(50);
  }
  return { url: `http://127.0.0.1:${accept}`, log: () => log };
}

/** What the reference Go client sends: a JSON POST over plain HTTP, nothing else. */
function postPlain(base: string, body: unknown): Promise<Response> {
  return fetch(new URL(ROUTE, base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

function auditCallers(): string[] {
  return readFileSync(h.config.audit.file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { caller?: string })
    .flatMap((r) => (r.caller ? [r.caller] : []));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sidecar-'));
  keys = await newFileCustody('sidecar-key-');
  h = await startSignerHarness(keys.custody);
  stake = await h.stake();
});

afterAll(async () => {
  for (const c of sidecars) {
    if (c.exitCode === null) {
      const exited = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGTERM');
      await exited;
    }
  }
  await h?.stop();
  await keys?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the reference client through the TLS sidecar (deploy/sidecar/stunnel.conf)', () => {
  let signatureHex: string;

  it('gets a valid signature with the reference request over plain HTTP', async () => {
    const sidecar = await startSidecar('pipeline', h.pki.clients.pipeline!);
    const res = await postPlain(sidecar.url, stake.body());
    expect(res.status).toBe(200);
    const json = (await res.json()) as SignUnbondingResponse;
    signatureHex = json.data.signature_hex;
    const sighash = unbondingSighash(parseTransaction(stake.unbondingTx.toHex()), stake.exp);
    expect(verifySchnorr(sighash, h.signerKey, Buffer.from(signatureHex, 'hex'))).toBe(true);
    // The signer knows the caller by the sidecar's certificate, as with a direct mTLS client.
    expect(auditCallers().at(-1)).toBe('pipeline');
  });

  it('serves our pipeline configured with an http:// loopback signer the same way', async () => {
    const sidecar = await startSidecar('pipeline-2', h.pki.clients.pipeline!);
    const client = new SignerClient(
      endpointOf({
        name: 'via-sidecar',
        url: sidecar.url,
        public_key: h.members[0]!.compressedHex,
        timeout_ms: 5_000,
      }),
    );
    try {
      const sig = await client.sign(stake.body());
      expect(Buffer.from(sig).toString('hex')).toBe(signatureHex);
    } finally {
      client.close();
    }
  });

  it('does not open the signer to plain HTTP: straight to its port there is no HTTP answer', async () => {
    const direct = `http://${new URL(h.signer.url).host}`;
    await expect(postPlain(direct, stake.body())).rejects.toThrow();
  });

  it('does not let a sidecar in whose certificate the signer does not list', async () => {
    const before = auditCallers().length;
    const sidecar = await startSidecar('stranger', h.pki.otherClient);
    const outcome = await postPlain(sidecar.url, stake.body()).then(
      (r) => `HTTP ${r.status}`,
      () => 'no HTTP answer',
    );
    expect(outcome).toBe('no HTTP answer');
    expect(auditCallers().length).toBe(before);
  });
});
