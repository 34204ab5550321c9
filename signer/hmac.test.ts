import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CodedError } from '../common/index.ts';
import { HmacVerifier, hardenedHmacHeaders } from './hmac.ts';

/** The HMAC rules alone; signer/phase2Hmac.int.test.ts runs them through a real signer. */
const KEY = 'a shared key from a file';
const body = Buffer.from('{"a":1}');
let t = 1_750_000_000_000;
const verifier = (allowBodyOnly = false, maxNonces = 100) =>
  new HmacVerifier({ key: KEY, allowBodyOnly, windowSeconds: 300, maxNonces, now: () => t });
const req = (headers: Record<string, string>, url = '/v1/sign-transactions') => ({
  method: 'POST',
  url,
  headers,
});
const hardened = (nonce: string, ts = Math.floor(t / 1000), url = '/v1/sign-transactions', b = body) =>
  hardenedHmacHeaders(KEY, 'POST', url, b, nonce, ts);
/** The reference emulator's header (client.go:26-41): hex HMAC-SHA256 of the body, key as UTF-8. */
const bodyOnly = (b = body) => ({ 'x-covenant-hmac': createHmac('sha256', KEY).update(b).digest('hex') });

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as CodedError).code;
  }
  return undefined;
}

describe('HmacVerifier', () => {
  it('accepts a hardened MAC once; the same nonce again is a replay', () => {
    const v = verifier();
    expect(v.verify(req(hardened('nonce-0000000001')), body)).toBe('hardened');
    expect(codeOf(() => v.verify(req(hardened('nonce-0000000001')), body))).toBe('SIGNER_HMAC_REPLAY');
  });

  it('binds the method-path-body: another path or body does not verify', () => {
    const v = verifier();
    expect(codeOf(() => v.verify(req(hardened('nonce-0000000002'), '/v1/unlock'), body))).toBe(
      'SIGNER_HMAC_INVALID',
    );
    expect(codeOf(() => v.verify(req(hardened('nonce-0000000003')), Buffer.from('{"a":2}')))).toBe(
      'SIGNER_HMAC_INVALID',
    );
  });

  it('refuses a timestamp outside the window either way, and forgets nonces only after it', () => {
    const v = verifier();
    const now = Math.floor(t / 1000);
    expect(codeOf(() => v.verify(req(hardened('nonce-0000000004', now - 301)), body))).toBe(
      'SIGNER_HMAC_STALE',
    );
    expect(codeOf(() => v.verify(req(hardened('nonce-0000000005', now + 301)), body))).toBe(
      'SIGNER_HMAC_STALE',
    );
    expect(v.verify(req(hardened('nonce-0000000006', now - 299)), body)).toBe('hardened');
    t += 400_000;
    // Still remembered: its timestamp is now stale anyway, and a fresh one with the nonce is refused.
    expect(codeOf(() => v.verify(req(hardened('nonce-0000000006')), body))).toBe('SIGNER_HMAC_REPLAY');
    t += 400_000;
    expect(v.verify(req(hardened('nonce-0000000006')), body)).toBe('hardened');
  });

  it('the reference’s body-only MAC: refused by default, accepted when allowed, still checked', () => {
    expect(codeOf(() => verifier().verify(req(bodyOnly()), body))).toBe('SIGNER_HMAC_BODY_ONLY_REFUSED');
    expect(verifier(true).verify(req(bodyOnly()), body)).toBe('body-only');
    expect(codeOf(() => verifier(true).verify(req(bodyOnly(Buffer.from('x'))), body))).toBe(
      'SIGNER_HMAC_INVALID',
    );
    // Upper-case hex is not the reference's form (it compares strings case-sensitively).
    const upper = { 'x-covenant-hmac': bodyOnly()['x-covenant-hmac'].toUpperCase() };
    expect(codeOf(() => verifier(true).verify(req(upper), body))).toBe('SIGNER_HMAC_INVALID');
  });

  it('refuses a missing MAC, half the headers, a malformed nonce, and a full nonce store', () => {
    expect(codeOf(() => verifier().verify(req({}), body))).toBe('SIGNER_HMAC_MISSING');
    const h = hardened('nonce-0000000007');
    const { 'x-covenant-nonce': _n, ...noNonce } = h;
    expect(codeOf(() => verifier().verify(req(noNonce), body))).toBe('SIGNER_HMAC_INVALID');
    expect(codeOf(() => verifier().verify(req(hardened('short')), body))).toBe('SIGNER_HMAC_INVALID');
    const small = verifier(false, 100);
    for (let i = 0; i < 100; i++)
      small.verify(req(hardened(`nonce-fill-${String(i).padStart(6, '0')}`)), body);
    expect(codeOf(() => small.verify(req(hardened('nonce-fill-overflow')), body))).toBe('SIGNER_BUSY');
  });
});
