import { webcrypto } from 'node:crypto';
import type { Ecc } from '../../common/index.ts';
import { measure, type Rate } from './measure.ts';

/**
 * The raw bound of a covenant signer on one core with `curve`: BIP340 sign (fresh 32-byte aux, as
 * hsm/signing.ts signs) plus one verification, per second, best of three rounds over `n` sighashes.
 */
export function signVerifyRate(label: string, curve: Ecc, n = 2000): Rate {
  const sk = webcrypto.getRandomValues(new Uint8Array(32));
  const pk = curve.xOnlyPointFromScalar(sk);
  const aux = webcrypto.getRandomValues(new Uint8Array(32 * n));
  const items = Array.from({ length: n }, (_, i) => ({
    sighash: webcrypto.getRandomValues(new Uint8Array(32)),
    aux: aux.subarray(32 * i, 32 * i + 32),
  }));
  return measure(label, items, ({ sighash, aux }) => {
    if (!curve.verifySchnorr(sighash, pk, curve.signSchnorr(sighash, sk, aux))) {
      throw new Error(`${label}: a signature did not verify`);
    }
  });
}
