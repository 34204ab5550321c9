// The pkcs11 halves of the key ceremonies (hsm/ceremony.ts calls them): initialise a token,
// generate or import the covenant key and seal it in the token, unseal it for a backup.
import * as graphene from 'graphene-pk11';
import { isCodedError } from '../../common/index.ts';
import type { Pkcs11CustodyConfig } from '../config.ts';
import { hsmError } from '../errors.ts';
import { type KeyInfo, keyInfoOf } from '../privateKey.ts';
import { readSecret } from '../secrets.ts';
import { ensureAuditKey } from './audit.ts';
import { type Handle, type NotPromise, pkcs11Error } from './cryptoki.ts';
import { findSlot, releaseModule, retainModule, tokenLabels } from './module.ts';
import { assertKeyMatches, assertSealedMatches, findKek, findSealedObject, readSealed } from './objects.ts';
import {
  encodeSealed,
  SEALED_APPLICATION,
  type SealedKey,
  WRAP_PAD,
  WRAPPED_LEN,
  withUnsealedKey,
} from './sealed.ts';
import { Token } from './token.ts';

/**
 * Initialises a token in a free slot (SoftHSM: the one uninitialised slot it always offers) with a
 * label, the SO PIN, and the user PIN from the config. For a real HSM this is the vendor's tool.
 * @throws {CodedError} HSM_TOKEN_EXISTS, HSM_TOKEN_NOT_FOUND (no free slot), HSM_PKCS11_…
 */
export async function initPkcs11Token(config: Pkcs11CustodyConfig, soPin: string): Promise<void> {
  const userPin = await readSecret(config.pin, 'PIN');
  const module = retainModule(config.library);
  try {
    const tokens = tokenLabels(module);
    if (tokens.some((t) => t.initialized && t.label === config.tokenLabel)) {
      throw hsmError('HSM_TOKEN_EXISTS', `a token labelled "${config.tokenLabel}" already exists`, {
        details: { token: config.tokenLabel },
      });
    }
    const free = tokens.find((t) => !t.initialized);
    if (!free) {
      throw hsmError('HSM_TOKEN_NOT_FOUND', 'no uninitialised token is present to initialise', {
        details: { token: config.tokenLabel },
      });
    }
    try {
      // CK_TOKEN_INFO.label is 32 bytes, blank padded, and C_InitToken reads all 32: pad it here.
      // (graphene's Slot.initToken passes the short string and then fails on pkcs11js's void result.)
      const padded = config.tokenLabel + ' '.repeat(32 - Buffer.byteLength(config.tokenLabel, 'utf8'));
      free.slot.lib.C_InitToken(free.slot.handle, soPin, padded);
    } catch (e) {
      throw pkcs11Error(e, `C_InitToken of "${config.tokenLabel}"`);
    }
    // SoftHSM moves an initialised token to a new slot id: find it again by label.
    const session = findSlot(module, config.tokenLabel).open(
      graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION,
    );
    try {
      session.login(soPin, graphene.UserType.SO);
      session.initPin(userPin);
      session.logout();
    } catch (e) {
      throw pkcs11Error(e, `setting the user PIN of "${config.tokenLabel}"`);
    } finally {
      session.close();
    }
  } finally {
    releaseModule(config.library);
  }
}

/** Finds the KEK, or generates it in the token: AES-256, sensitive, never extractable, wrap/unwrap only. */
function ensureKek(session: graphene.Session, label: string): Handle {
  try {
    return findKek(session, label);
  } catch (e) {
    if (!isCodedError(e, 'HSM_KEK_NOT_FOUND')) throw e;
  }
  try {
    return session.generateKey(graphene.KeyGenMechanism.AES, {
      class: graphene.ObjectClass.SECRET_KEY,
      keyType: graphene.KeyType.AES,
      valueLen: 32,
      label,
      token: true,
      private: true,
      sensitive: true,
      extractable: false,
      modifiable: false,
      wrap: true,
      unwrap: true,
      encrypt: false,
      decrypt: false,
      sign: false,
      verify: false,
      derive: false,
    }).handle;
  } catch (e) {
    throw pkcs11Error(e, `generating the KEK "${label}"`);
  }
}

function assertNoSealedKey(session: graphene.Session, label: string): void {
  if (findSealedObject(session, label)) {
    throw hsmError('HSM_KEY_EXISTS', `the token already holds a sealed key labelled "${label}"`, {
      details: { keyLabel: label },
    });
  }
}

/** Wraps a session secret under the KEK and destroys the secret. */
function wrapAndDestroy(session: graphene.Session, kek: Handle, secret: graphene.SecretKey): Buffer {
  try {
    return session.lib.C_WrapKey(
      session.handle,
      WRAP_PAD,
      kek,
      secret.handle,
      Buffer.alloc(WRAPPED_LEN + 16),
    ) as Buffer;
  } finally {
    secret.destroy();
  }
}

function storeSealed(session: graphene.Session, label: string, sealed: SealedKey): void {
  try {
    session.create({
      class: graphene.ObjectClass.DATA,
      token: true,
      private: true,
      modifiable: false,
      label,
      application: SEALED_APPLICATION,
      value: encodeSealed(sealed.publicKey, sealed.wrapped),
    });
  } catch (e) {
    throw pkcs11Error(e, `storing the sealed key "${label}"`);
  }
}

async function withCeremonySession<T>(
  config: Pkcs11CustodyConfig,
  fn: (session: graphene.Session) => NotPromise<T>,
): Promise<NotPromise<T>> {
  const token = await Token.open(config, { readWrite: true });
  try {
    return await token.use(fn);
  } finally {
    token.close();
  }
}

/**
 * Generates the covenant key inside the token (CKM_GENERIC_SECRET_KEY_GEN, the token's RNG) and
 * seals it there (C_WrapKey under the KEK, generated first if absent); the host sees the scalar once,
 * unsealed the ordinary way, to compute the public key.
 * @throws {CodedError} HSM_KEY_EXISTS, and the codes of opening the token
 */
export async function generatePkcs11Key(config: Pkcs11CustodyConfig): Promise<KeyInfo> {
  return withCeremonySession(config, (session) => {
    assertNoSealedKey(session, config.keyLabel);
    const kek = ensureKek(session, config.kekLabel);
    ensureAuditKey(session, config.auditKeyLabel);
    // A random 256-bit string is ≥ n with probability ~2^-128; retry rather than reduce.
    for (let attempt = 0; attempt < 8; attempt++) {
      let secret: graphene.SecretKey;
      try {
        secret = session.generateKey(graphene.KeyGenMechanism.GENERIC_SECRET, {
          class: graphene.ObjectClass.SECRET_KEY,
          keyType: graphene.KeyType.GENERIC_SECRET,
          valueLen: 32,
          token: false,
          private: true,
          sensitive: true,
          extractable: true,
        });
      } catch (e) {
        throw pkcs11Error(e, 'generating the covenant key');
      }
      const wrapped = wrapAndDestroy(session, kek, secret);
      const info = tryPublicKey(session, kek, wrapped);
      if (!info) continue;
      storeSealed(session, config.keyLabel, { publicKey: Buffer.from(info.compressed, 'hex'), wrapped });
      return info;
    }
    throw hsmError('HSM_PKCS11_ERROR', 'the token generated no valid secp256k1 key in 8 attempts');
  });
}

function tryPublicKey(session: graphene.Session, kek: Handle, wrapped: Buffer): KeyInfo | undefined {
  try {
    return withUnsealedKey(
      session.lib,
      session.handle,
      kek,
      { publicKey: new Uint8Array(33), wrapped },
      (key) => keyInfoOf(key),
    );
  } catch (e) {
    if (isCodedError(e, 'HSM_SEALED_KEY_INVALID')) return undefined;
    throw e;
  }
}

/**
 * Seals a given private key (import-key, import-backup): C_CreateObject of a session secret, C_WrapKey
 * under the KEK, C_DestroyObject; then unseals once to check. `produce` is called once, synchronously,
 * inside the token session (after every slow step); its bytes are wiped here.
 * @throws {CodedError} HSM_KEY_EXISTS, HSM_PRIVATE_KEY_INVALID, and the codes of opening the token
 */
export async function importPkcs11Key(
  config: Pkcs11CustodyConfig,
  produce: () => Uint8Array,
): Promise<KeyInfo> {
  return withCeremonySession(config, (session) => {
    assertNoSealedKey(session, config.keyLabel);
    const kek = ensureKek(session, config.kekLabel);
    ensureAuditKey(session, config.auditKeyLabel);
    const privateKey = produce();
    let info: KeyInfo;
    const value = Buffer.from(privateKey);
    let secret: graphene.SecretKey;
    try {
      info = keyInfoOf(privateKey);
      secret = session.create({
        class: graphene.ObjectClass.SECRET_KEY,
        keyType: graphene.KeyType.GENERIC_SECRET,
        token: false,
        private: true,
        sensitive: true,
        extractable: true,
        value,
      }) as graphene.SecretKey;
    } catch (e) {
      throw pkcs11Error(e, 'importing the covenant key');
    } finally {
      value.fill(0);
      privateKey.fill(0);
    }
    const wrapped = wrapAndDestroy(session, kek, secret);
    const sealed = { publicKey: Buffer.from(info.compressed, 'hex'), wrapped };
    assertSealedMatches(session, kek, sealed, config.keyLabel);
    storeSealed(session, config.keyLabel, sealed);
    return info;
  });
}

/**
 * Unseals the covenant key and passes it to a synchronous `use` (export-backup); wiped afterwards.
 * @throws {CodedError} the codes of opening the backend
 */
export async function withPkcs11Key<T>(
  config: Pkcs11CustodyConfig,
  use: (privateKey: Uint8Array, info: KeyInfo) => NotPromise<T>,
): Promise<NotPromise<T>> {
  const token = await Token.open(config, { readWrite: false });
  try {
    return await token.use((session) => {
      const kek = findKek(session, config.kekLabel);
      const sealed = readSealed(session, config.keyLabel);
      return withUnsealedKey(session.lib, session.handle, kek, sealed, (key) => {
        assertKeyMatches(key, sealed, config.keyLabel);
        return use(key, keyInfoOf(key));
      });
    });
  } finally {
    token.close();
  }
}
