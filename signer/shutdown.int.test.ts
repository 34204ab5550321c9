import { readFileSync } from 'node:fs';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newFileCustody, type TestFileCustody } from '../test/infra/fileCustody.ts';
import { type SignerHarness, startSignerHarness } from '../test/infra/signerHarness.ts';

/*
 * SIGNER_SHUTTING_DOWN: a request the listener had already taken when the stop began is answered
 * 503 with the code, not signed and not dropped. "Already taken" is made exact with
 * `Expect: 100-continue`: the server's 100 Continue says it parsed the headers, so the stop comes
 * between the request's headers and its body, and the request reaches the route after it.
 */
let h: SignerHarness;
let keys: TestFileCustody;

beforeAll(async () => {
  keys = await newFileCustody('signer-shutdown-');
  h = await startSignerHarness(keys.custody);
});

afterAll(async () => {
  await h?.stop();
  await keys?.close();
});

/** Resolves with everything received once `done(text)` holds. */
function readUntil(sock: TLSSocket, done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (c: Buffer) => {
      text += c.toString('utf8');
      if (done(text)) {
        sock.off('data', onData);
        resolve(text);
      }
    };
    sock.on('data', onData);
    sock.once('error', reject);
    sock.once('close', () => reject(new Error(`connection closed after: ${JSON.stringify(text)}`)));
  });
}

describe('a request in progress when the signer stops', () => {
  it('is refused 503 SIGNER_SHUTTING_DOWN, and recorded as refused', async () => {
    const stake = await h.stake(200_000n);
    const payload = JSON.stringify(stake.body());
    const url = new URL(h.signer.url);
    const identity = h.pki.clients.pipeline!;
    const sock = connect({
      host: url.hostname,
      port: Number(url.port),
      ca: readFileSync(h.pki.ca.cert),
      cert: readFileSync(identity.cert),
      key: readFileSync(identity.key),
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', resolve);
      sock.once('error', reject);
    });
    const continued = readUntil(sock, (t) => t.includes('\r\n\r\n'));
    sock.write(
      `POST /v1/sign-unbonding-tx HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(payload)}\r\nExpect: 100-continue\r\n\r\n`,
    );
    expect(await continued).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);

    const stopping = h.signer.stop();
    const answered = readUntil(sock, (t) => {
      const [head, body] = t.split('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(head ?? '')?.[1];
      return length !== undefined && Buffer.byteLength(body ?? '') >= Number(length);
    });
    sock.write(payload);
    const answer = await answered;
    sock.destroy();
    await stopping;

    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(JSON.parse(answer.split('\r\n\r\n')[1]!)).toMatchObject({ code: 'SIGNER_SHUTTING_DOWN' });
    const records = readFileSync(h.config.audit.file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.some((r) => r.code === 'SIGNER_SHUTTING_DOWN')).toBe(true);
    expect(records.some((r) => r.outcome === 'signed')).toBe(false);
  });
});
