// The sealed covenant key: its object format, and unsealing it in the token for one synchronous use.
// The design of the whole backend (why a KEK wraps the key and the host signs) is this comment:
/*
 * PKCS#11 has no BIP340 mechanism (reference/hardware-signing.md §1). The token therefore guards the
 * covenant key at rest and its use, not its arithmetic:
 *
 *   - a KEK: an AES-256 secret key generated in the token, CKA_SENSITIVE and not CKA_EXTRACTABLE, usable
 *     only to wrap and unwrap; found by label;
 *   - the sealed key: the covenant key's 32-byte scalar wrapped by the KEK with CKM_AES_KEY_WRAP_PAD
 *     (RFC 5649), kept with its public key in a private CKO_DATA token object, found by label;
 *   - to unseal: C_UnwrapKey into a session-only CKK_GENERIC_SECRET, C_GetAttributeValue(CKA_VALUE),
 *     C_DestroyObject at once; at start-up, in health() and in the ceremonies, and once per signing
 *     session to make its working key (workingKey.ts), under which each signature is one C_Decrypt;
 *   - to sign: BIP340 in the host (native libsecp256k1), wipe. All synchronous: no await separates
 *     unsealing from wiping, so no other code runs while the key is in memory.
 *
 * Why unwrap and not C_Decrypt: SoftHSM 2.6 offers CKM_AES_KEY_WRAP(_PAD) for wrap/unwrap only
 * (mechanism flags 0x60000; C_DecryptInit gives CKR_MECHANISM_INVALID), and AES-GCM cannot wrap.
 * Wrap-pad keeps the sealed key in the standard format every PKCS#11 HSM unwraps, lets the token
 * generate the key and seal it without the host seeing it, and needs a KEK with only CKA_WRAP/UNWRAP.
 */
import { ecc, isPublicKey } from '../../common/index.ts';
import { hsmError } from '../errors.ts';
import {
  CKA_CLASS,
  CKA_DECRYPT,
  CKA_DERIVE,
  CKA_ENCRYPT,
  CKA_EXTRACTABLE,
  CKA_KEY_TYPE,
  CKA_PRIVATE,
  CKA_SENSITIVE,
  CKA_SIGN,
  CKA_TOKEN,
  CKA_UNWRAP,
  CKA_VALUE,
  CKA_VERIFY,
  CKA_WRAP,
  CKK_GENERIC_SECRET,
  CKM_AES_KEY_WRAP_PAD,
  CKO_SECRET_KEY,
  ckrOf,
  type Handle,
  type Lib,
  type NotPromise,
} from './cryptoki.ts';

/** CKA_APPLICATION of the sealed-key data object. */
export const SEALED_APPLICATION = 'babylon-covenant-signer/sealed-key';
/** Sealed-key object value: "BCSK" ‖ version 1 ‖ compressed public key (33) ‖ RFC 5649 wrap of the scalar (40). */
const SEALED_MAGIC = Buffer.from('BCSK', 'ascii');
const SEALED_VERSION = 1;
export const WRAPPED_LEN = 40;
const SEALED_LEN = SEALED_MAGIC.length + 1 + 33 + WRAPPED_LEN;

/** The session object the token unwraps into: private to this session, readable (so the host can sign), usable for nothing else. */
const UNSEAL_TEMPLATE = [
  { type: CKA_CLASS, value: CKO_SECRET_KEY },
  { type: CKA_KEY_TYPE, value: CKK_GENERIC_SECRET },
  { type: CKA_TOKEN, value: false },
  { type: CKA_PRIVATE, value: true },
  { type: CKA_SENSITIVE, value: false },
  // CKA_VALUE of an unextractable object is refused like a sensitive one (SoftHSM follows the spec).
  { type: CKA_EXTRACTABLE, value: true },
  { type: CKA_ENCRYPT, value: false },
  { type: CKA_DECRYPT, value: false },
  { type: CKA_SIGN, value: false },
  { type: CKA_VERIFY, value: false },
  { type: CKA_WRAP, value: false },
  { type: CKA_UNWRAP, value: false },
  { type: CKA_DERIVE, value: false },
];
export const WRAP_PAD: Parameters<Lib['C_UnwrapKey']>[1] = { mechanism: CKM_AES_KEY_WRAP_PAD };

export interface SealedKey {
  /** Compressed public key recorded beside the wrapped scalar. */
  readonly publicKey: Uint8Array;
  readonly wrapped: Buffer;
}

export function encodeSealed(publicKey: Uint8Array, wrapped: Uint8Array): Buffer {
  return Buffer.concat([SEALED_MAGIC, Uint8Array.of(SEALED_VERSION), publicKey, wrapped]);
}

export function decodeSealed(value: Buffer | undefined, label: string): SealedKey {
  const bad = (why: string) =>
    hsmError('HSM_SEALED_KEY_INVALID', `the sealed key object "${label}" ${why}`, {
      details: { keyLabel: label },
    });
  if (!value || value.length !== SEALED_LEN) throw bad(`is not ${SEALED_LEN} bytes`);
  if (!value.subarray(0, 4).equals(SEALED_MAGIC) || value[4] !== SEALED_VERSION)
    throw bad('has an unknown format');
  const publicKey = Uint8Array.from(value.subarray(5, 38));
  if (publicKey.length !== 33 || !isPublicKey(publicKey)) throw bad('records an invalid public key');
  return { publicKey, wrapped: Buffer.from(value.subarray(38)) };
}

/**
 * Unseals the key in the token and hands its 32 bytes to `use`, which must be synchronous; the bytes
 * and the token's session object are gone when this returns or throws. The session object lives from
 * C_UnwrapKey to C_DestroyObject, a few tens of microseconds, before `use` even runs.
 * @throws {CodedError} HSM_SEALED_KEY_INVALID when the KEK does not open the blob, HSM_PKCS11_ERROR
 */
export function withUnsealedKey<T>(
  lib: Lib,
  session: Handle,
  kek: Handle,
  sealed: SealedKey,
  use: (privateKey: Uint8Array) => NotPromise<T>,
): NotPromise<T> {
  let object: Handle | undefined;
  let value: Buffer | undefined;
  try {
    try {
      object = lib.C_UnwrapKey(session, WRAP_PAD, kek, sealed.wrapped, UNSEAL_TEMPLATE);
    } catch (e) {
      const ckr = ckrOf(e);
      // RFC 5649's integrity check failing (wrong KEK, altered blob) is CKR_GENERAL_ERROR in SoftHSM.
      if (
        ckr === 'CKR_GENERAL_ERROR' ||
        ckr === 'CKR_WRAPPED_KEY_INVALID' ||
        ckr === 'CKR_WRAPPED_KEY_LEN_RANGE'
      ) {
        throw hsmError('HSM_SEALED_KEY_INVALID', `the KEK cannot unseal the sealed key (${ckr})`, {
          cause: e,
          details: { ckr },
        });
      }
      throw e;
    }
    value = lib.C_GetAttributeValue(session, object, [{ type: CKA_VALUE }])[0]?.value as Buffer | undefined;
    lib.C_DestroyObject(session, object);
    object = undefined;
    if (value?.length !== 32 || !ecc.isPrivate(value)) {
      throw hsmError('HSM_SEALED_KEY_INVALID', 'the sealed key does not unseal to a secp256k1 private key');
    }
    return use(value);
  } finally {
    value?.fill(0);
    if (object) {
      try {
        lib.C_DestroyObject(session, object);
      } catch {
        // The caller discards a session whose call failed; closing it destroys its session objects.
      }
    }
  }
}
