// The covenant key's objects in the token, found by label and checked before use: the KEK (AES,
// sensitive, never extractable, able to unwrap) and the sealed-key data object.
import * as graphene from 'graphene-pk11';
import { toHex } from '../../common/index.ts';
import { hsmError } from '../errors.ts';
import { keyInfoOf } from '../privateKey.ts';
import { CKA_VALUE, CKK_AES, type Handle, pkcs11Error } from './cryptoki.ts';
import { decodeSealed, type SealedKey, withUnsealedKey } from './sealed.ts';

/** The one secret key labelled `label`, or undefined; two under one label are refused, custody does not guess. */
export function findSecretKey(
  session: graphene.Session,
  label: string,
  what: string,
  details: Record<string, unknown>,
): graphene.SessionObject | undefined {
  let found: graphene.SessionObjectCollection;
  try {
    found = session.find({ class: graphene.ObjectClass.SECRET_KEY, label });
  } catch (e) {
    throw pkcs11Error(e, `looking up the ${what} "${label}"`);
  }
  if (found.length > 1) {
    throw hsmError('HSM_LABEL_AMBIGUOUS', `${found.length} secret keys are labelled "${label}"`, { details });
  }
  return found.length === 1 ? found.items(0) : undefined;
}

/** The KEK's handle, after checking it is what it must be: AES, sensitive, never extractable, able to unwrap. */
export function findKek(session: graphene.Session, label: string): Handle {
  const kek = findSecretKey(session, label, 'KEK', { kekLabel: label });
  if (!kek) {
    throw hsmError('HSM_KEK_NOT_FOUND', `the token holds no key-encryption key labelled "${label}"`, {
      details: { kekLabel: label },
    });
  }
  const a = kek.getAttribute({
    keyType: null,
    sensitive: null,
    extractable: null,
    unwrap: null,
    token: null,
  });
  if (
    a.keyType !== CKK_AES ||
    a.sensitive !== true ||
    a.extractable !== false ||
    a.unwrap !== true ||
    a.token !== true
  ) {
    throw hsmError(
      'HSM_KEK_INVALID',
      `the key "${label}" is not a sensitive, non-extractable AES token key allowed to unwrap`,
      { details: { kekLabel: label } },
    );
  }
  return kek.handle;
}

export function findSealedObject(
  session: graphene.Session,
  label: string,
): graphene.SessionObject | undefined {
  let found: graphene.SessionObjectCollection;
  try {
    found = session.find({ class: graphene.ObjectClass.DATA, label });
  } catch (e) {
    throw pkcs11Error(e, `looking up the sealed key "${label}"`);
  }
  if (found.length > 1) {
    throw hsmError('HSM_LABEL_AMBIGUOUS', `${found.length} data objects are labelled "${label}"`, {
      details: { keyLabel: label },
    });
  }
  return found.length === 1 ? found.items(0) : undefined;
}

export function readSealed(session: graphene.Session, label: string): SealedKey {
  const object = findSealedObject(session, label);
  if (!object) {
    throw hsmError('HSM_SEALED_KEY_NOT_FOUND', `the token holds no sealed covenant key labelled "${label}"`, {
      details: { keyLabel: label },
    });
  }
  return decodeSealed(object.getAttribute(CKA_VALUE) as Buffer | undefined, label);
}

/** Checks that an unsealed scalar's public key is the one recorded beside it. */
export function assertKeyMatches(key: Uint8Array, sealed: SealedKey, label: string): void {
  if (keyInfoOf(key).compressed !== toHex(sealed.publicKey)) {
    throw hsmError(
      'HSM_SEALED_KEY_INVALID',
      `the sealed key "${label}" does not match its recorded public key`,
      {
        details: { keyLabel: label },
      },
    );
  }
}

/** Unseals under the token KEK and checks that the scalar's public key is the recorded one. */
export function assertSealedMatches(
  session: graphene.Session,
  kek: Handle,
  sealed: SealedKey,
  label: string,
): void {
  withUnsealedKey(session.lib, session.handle, kek, sealed, (key) => {
    assertKeyMatches(key, sealed, label);
    return undefined;
  });
}
