// The PKCS#11 vocabulary every piece of the pkcs11 backend shares: the standard's constants, the
// handle types, and the mapping of a pkcs11js failure (CKR_…) to a coded error.
import type * as graphene from 'graphene-pk11';
import { isCodedError } from '../../common/index.ts';
import { hsmError } from '../errors.ts';

// PKCS#11 constants (pkcs11t.h), named as the standard names them. Kept here so that only
// graphene-pk11, a declared dependency, is imported.
export const CKF_OS_LOCKING_OK = 0x2;
export const CKF_TOKEN_INITIALIZED = 0x400;
export const CKO_SECRET_KEY = 0x4;
export const CKK_GENERIC_SECRET = 0x10;
export const CKK_AES = 0x1f;
export const CKA_CLASS = 0x0;
export const CKA_TOKEN = 0x1;
export const CKA_PRIVATE = 0x2;
export const CKA_VALUE = 0x11;
export const CKA_VALUE_LEN = 0x161;
export const CKA_KEY_TYPE = 0x100;
export const CKA_SENSITIVE = 0x103;
export const CKA_ENCRYPT = 0x104;
export const CKA_DECRYPT = 0x105;
export const CKA_WRAP = 0x106;
export const CKA_UNWRAP = 0x107;
export const CKA_SIGN = 0x108;
export const CKA_VERIFY = 0x10a;
export const CKA_DERIVE = 0x10c;
export const CKA_EXTRACTABLE = 0x162;
export const CKA_MODIFIABLE = 0x170;
export const CKM_AES_KEY_GEN = 0x1080;
export const CKM_AES_GCM = 0x1087;
export const CKM_AES_KEY_WRAP_PAD = 0x210a;
export const CKM_SHA256_HMAC = 0x251;
export const CKK_SHA256_HMAC = 0x2b;
export const CKS_RO_USER_FUNCTIONS = 1;
export const CKS_RW_USER_FUNCTIONS = 3;

export type Lib = graphene.Session['lib'];
export type Handle = Buffer;
export type NotPromise<T> = T extends PromiseLike<unknown> ? never : T;

/** The CKR_… name of a pkcs11js error ("CKR_PIN_INCORRECT" or "CKR_SESSION_READ_ONLY:181"). */
export function ckrOf(e: unknown): string | undefined {
  return e instanceof Error ? /^(CKR_[A-Z0-9_]+)/.exec(e.message)?.[1] : undefined;
}

export function pkcs11Error(e: unknown, what: string): Error {
  if (isCodedError(e)) return e;
  const ckr = ckrOf(e);
  return hsmError('HSM_PKCS11_ERROR', `${what} failed${ckr ? ` (${ckr})` : ''}`, {
    cause: e,
    details: { ckr },
  });
}
