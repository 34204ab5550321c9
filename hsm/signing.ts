import { randomBytes, webcrypto } from 'node:crypto';
import { bytesEqual, ecc, toHex, type XOnlyKey } from '../common/index.ts';
import { adaptorEncSign } from '../staking/index.ts';
import type { AdaptorSignRequest, UnbondingSignRequest } from './custody.ts';
import { hsmError } from './errors.ts';

/**
 * Checks the parts of a sign request every backend relies on, and that the key is one it holds.
 * @throws {CodedError} HSM_BAD_REQUEST, HSM_KEY_NOT_HELD
 */
export function assertSignRequest(req: UnbondingSignRequest, held: readonly XOnlyKey[]): void {
  if (!(req.sighash instanceof Uint8Array) || req.sighash.length !== 32) {
    throw hsmError('HSM_BAD_REQUEST', 'sighash must be 32 bytes', { details: { field: 'sighash' } });
  }
  if (!(req.key instanceof Uint8Array) || req.key.length !== 32) {
    throw hsmError('HSM_BAD_REQUEST', 'key must be a 32-byte x-only key', { details: { field: 'key' } });
  }
  if (!held.some((k) => bytesEqual(k, req.key))) {
    throw hsmError('HSM_KEY_NOT_HELD', `covenant key ${toHex(req.key)} is not held by this backend`, {
      details: { key: toHex(req.key) },
    });
  }
}

/**
 * BIP340-signs with fresh 32-byte aux randomness (BIP340 recommends it against side channels; a
 * fixed aux would make the nonce a function of key and message only). Synchronous on purpose: the
 * caller holds the unsealed key and wipes it right after, with no await in between.
 */
export function schnorrSign(sighash: Uint8Array, privateKey: Uint8Array): Uint8Array {
  const aux = webcrypto.getRandomValues(new Uint8Array(32));
  return ecc.signSchnorr(sighash, privateKey, aux);
}

/**
 * Checks an adaptor request (every sighash 32 bytes, every encryption key 33, at least one item,
 * a held key), as assertSignRequest does for a plain one.
 * @throws {CodedError} HSM_BAD_REQUEST, HSM_KEY_NOT_HELD
 */
export function assertAdaptorSignRequest(req: AdaptorSignRequest, held: readonly XOnlyKey[]): void {
  if (!Array.isArray(req.items) || req.items.length === 0 || req.items.length > 1024) {
    throw hsmError('HSM_BAD_REQUEST', 'an adaptor request needs 1 to 1024 items', {
      details: { field: 'items' },
    });
  }
  for (const it of req.items) {
    if (!(it.encryptionKey instanceof Uint8Array) || it.encryptionKey.length !== 33) {
      throw hsmError('HSM_BAD_REQUEST', 'an encryption key must be 33 bytes', {
        details: { field: 'encryptionKey' },
      });
    }
    assertSignRequest({ key: req.key, sighash: it.sighash } as UnbondingSignRequest, held);
  }
}

/**
 * One pre-signature per item with the unsealed key. Synchronous for the same reason as
 * schnorrSign; the aux randomness is fresh per pre-signature, as the reference's EncSign draws it
 * (sig.go:79-82), so no two pre-signatures share a nonce.
 */
export function adaptorSignAll(req: AdaptorSignRequest, privateKey: Uint8Array): Uint8Array[] {
  return req.items.map((it) => adaptorEncSign(privateKey, it.sighash, it.encryptionKey, randomBytes(32)));
}

/**
 * Sign, then check (noble's schnorrSign): a signature that does not verify against the sighash and
 * the key is never returned.
 * @throws {CodedError} HSM_SIGNATURE_INVALID
 */
export function assertSignatureValid(sighash: Uint8Array, key: XOnlyKey, signature: Uint8Array): Uint8Array {
  let ok = false;
  try {
    ok = signature.length === 64 && ecc.verifySchnorr(sighash, key, signature);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw hsmError('HSM_SIGNATURE_INVALID', `the signature made for key ${toHex(key)} does not verify`, {
      details: { key: toHex(key) },
    });
  }
  return signature;
}

/**
 * Runs signing jobs one at a time, each in its own turn of the event loop. A signature is up to
 * ~1 ms of synchronous work (PKCS#11 unseal, BIP340 sign and verify); without this, a burst of N
 * concurrent requests would run back to back in microtasks and hold the loop for N of them. With
 * it, the loop runs its timers and I/O between two signatures, so it is never blocked for more
 * than one.
 */
export class SignQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => T | Promise<T>): Promise<T> {
    const result = this.#tail.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(job);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
