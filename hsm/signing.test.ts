import { describe, expect, it } from 'vitest';
import type { XOnlyKey } from '../common/index.ts';
import { testKey } from '../test/keys.ts';
import type { UnbondingSignRequest } from './custody.ts';
import { assertSignatureValid, assertSignRequest, SignQueue, schnorrSign } from './signing.ts';

const k = testKey('signing-unit');
const sighash = new Uint8Array(32).fill(7);
const req = (over: Partial<UnbondingSignRequest>) =>
  ({ key: k.xOnly, sighash, ...over }) as UnbondingSignRequest;

describe('signing helpers shared by the backends', () => {
  it('makes a BIP340 signature with fresh aux randomness: two signatures of one sighash differ, both verify', () => {
    const a = schnorrSign(sighash, k.privateKey);
    const b = schnorrSign(sighash, k.privateKey);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(assertSignatureValid(sighash, k.xOnly, a)).toBe(a);
    expect(assertSignatureValid(sighash, k.xOnly, b)).toBe(b);
  });

  it('never returns a signature that does not verify (HSM_SIGNATURE_INVALID)', () => {
    const sig = schnorrSign(sighash, k.privateKey);
    sig[5]! ^= 1;
    expect(() => assertSignatureValid(sighash, k.xOnly, sig)).toThrow(
      expect.objectContaining({ code: 'HSM_SIGNATURE_INVALID' }),
    );
    expect(() => assertSignatureValid(sighash, k.xOnly, new Uint8Array(65))).toThrow(
      expect.objectContaining({ code: 'HSM_SIGNATURE_INVALID' }),
    );
  });

  it('refuses a sighash or key that is not 32 bytes (HSM_BAD_REQUEST) and a key not held (HSM_KEY_NOT_HELD)', () => {
    expect(() => assertSignRequest(req({ sighash: new Uint8Array(31) }), [k.xOnly])).toThrow(
      expect.objectContaining({ code: 'HSM_BAD_REQUEST' }),
    );
    expect(() => assertSignRequest(req({ key: new Uint8Array(33) as XOnlyKey }), [k.xOnly])).toThrow(
      expect.objectContaining({ code: 'HSM_BAD_REQUEST' }),
    );
    expect(() => assertSignRequest(req({ key: testKey('other').xOnly }), [k.xOnly])).toThrow(
      expect.objectContaining({ code: 'HSM_KEY_NOT_HELD' }),
    );
    expect(() => assertSignRequest(req({}), [k.xOnly])).not.toThrow();
  });
});

describe('SignQueue', () => {
  it('runs one job per event-loop turn: work scheduled by a job runs before the next job', async () => {
    const order: string[] = [];
    const q = new SignQueue();
    await Promise.all([
      q.run(() => {
        order.push('sign 1');
        setImmediate(() => order.push('other work'));
      }),
      q.run(() => order.push('sign 2')),
    ]);
    expect(order).toEqual(['sign 1', 'other work', 'sign 2']);
  });

  it('keeps going after a job fails, and returns each job its own result', async () => {
    const q = new SignQueue();
    const failed = q.run(() => {
      throw new Error('boom');
    });
    const next = q.run(() => 42);
    await expect(failed).rejects.toThrow('boom');
    expect(await next).toBe(42);
  });
});
