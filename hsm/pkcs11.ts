import { createHash, timingSafeEqual } from 'node:crypto';
import * as graphene from 'graphene-pk11';
import * as ecc from 'tiny-secp256k1';
import {
  copyXOnlyKey,
  isCodedError,
  isPublicKey,
  parseCompressedKey,
  toHex,
  type XOnlyKey,
  xOnlyOf,
} from '../common/index.ts';
import { anchorIs } from './auditFiles.ts';
import type { Pkcs11CustodyConfig } from './config.ts';
import type {
  AdaptorSignRequest,
  AuditCustody,
  CustodyBackend,
  CustodyHealth,
  UnbondingSignRequest,
} from './custody.ts';
import { hsmError } from './errors.ts';
import type { CustodyLogger } from './logger.ts';
import { type KeyInfo, keyInfoOf } from './privateKey.ts';
import { readSecret } from './secrets.ts';
import {
  adaptorSignAll,
  assertAdaptorSignRequest,
  assertSignatureValid,
  assertSignRequest,
  SignQueue,
  schnorrSign,
} from './signing.ts';

/*
 * PKCS#11 has no BIP340 mechanism (reference/hardware-signing.md §1). The token therefore guards the
 * covenant key at rest and its use, not its arithmetic:
 *
 *   - a KEK: an AES-256 secret key generated in the token, CKA_SENSITIVE and not CKA_EXTRACTABLE, usable
 *     only to wrap and unwrap; found by label;
 *   - the sealed key: the covenant key's 32-byte scalar wrapped by the KEK with CKM_AES_KEY_WRAP_PAD
 *     (RFC 5649), kept with its public key in a private CKO_DATA token object, found by label;
 *   - to sign: C_UnwrapKey into a session-only CKK_GENERIC_SECRET, C_GetAttributeValue(CKA_VALUE),
 *     C_DestroyObject at once, BIP340 sign in the host (tiny-secp256k1), wipe. All synchronous: no await
 *     separates unsealing from wiping, so no other code runs while the key is in memory.
 *
 * Why unwrap and not C_Decrypt: SoftHSM 2.6 offers CKM_AES_KEY_WRAP(_PAD) for wrap/unwrap only
 * (mechanism flags 0x60000; C_DecryptInit gives CKR_MECHANISM_INVALID), and AES-GCM cannot wrap.
 * Wrap-pad keeps the sealed key in the standard format every PKCS#11 HSM unwraps, lets the token
 * generate the key and seal it without the host seeing it, and needs a KEK with only CKA_WRAP/UNWRAP.
 */

// PKCS#11 constants (pkcs11t.h), named as the standard names them. Kept here so that only
// graphene-pk11, a declared dependency, is imported.
const CKF_OS_LOCKING_OK = 0x2;
const CKF_TOKEN_INITIALIZED = 0x400;
const CKO_SECRET_KEY = 0x4;
const CKK_GENERIC_SECRET = 0x10;
const CKK_AES = 0x1f;
const CKA_CLASS = 0x0;
const CKA_TOKEN = 0x1;
const CKA_PRIVATE = 0x2;
const CKA_VALUE = 0x11;
const CKA_KEY_TYPE = 0x100;
const CKA_SENSITIVE = 0x103;
const CKA_ENCRYPT = 0x104;
const CKA_DECRYPT = 0x105;
const CKA_WRAP = 0x106;
const CKA_UNWRAP = 0x107;
const CKA_SIGN = 0x108;
const CKA_VERIFY = 0x10a;
const CKA_DERIVE = 0x10c;
const CKA_EXTRACTABLE = 0x162;
const CKM_AES_KEY_WRAP_PAD = 0x210a;
const CKM_SHA256_HMAC = 0x251;
const CKK_SHA256_HMAC = 0x2b;
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;

/** CKA_APPLICATION of the sealed-key data object. */
const SEALED_APPLICATION = 'babylon-covenant-signer/sealed-key';
/** CKA_APPLICATION of the audit-anchor data object. */
const ANCHOR_APPLICATION = 'babylon-covenant-signer/audit-anchor';
/** Sealed-key object value: "BCSK" ‖ version 1 ‖ compressed public key (33) ‖ RFC 5649 wrap of the scalar (40). */
const SEALED_MAGIC = Buffer.from('BCSK', 'ascii');
const SEALED_VERSION = 1;
const WRAPPED_LEN = 40;
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
const WRAP_PAD: Parameters<Lib['C_UnwrapKey']>[1] = { mechanism: CKM_AES_KEY_WRAP_PAD };

/** Return values after which a session is not reused: closed, logged out, removed, or stuck mid-operation. */
const BROKEN_SESSION = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_DEVICE_REMOVED',
  'CKR_DEVICE_ERROR',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_OPERATION_ACTIVE',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
  'CKR_OBJECT_HANDLE_INVALID',
  'CKR_KEY_HANDLE_INVALID',
  'CKR_UNWRAPPING_KEY_HANDLE_INVALID',
]);

type Lib = graphene.Session['lib'];
type Handle = Buffer;
type NotPromise<T> = T extends PromiseLike<unknown> ? never : T;

/** The CKR_… name of a pkcs11js error ("CKR_PIN_INCORRECT" or "CKR_SESSION_READ_ONLY:181"). */
function ckrOf(e: unknown): string | undefined {
  return e instanceof Error ? /^(CKR_[A-Z0-9_]+)/.exec(e.message)?.[1] : undefined;
}

function pkcs11Error(e: unknown, what: string): Error {
  if (isCodedError(e)) return e;
  const ckr = ckrOf(e);
  return hsmError('HSM_PKCS11_ERROR', `${what} failed${ckr ? ` (${ckr})` : ''}`, {
    cause: e,
    details: { ckr },
  });
}

// ---- the module: loaded once per library path, initialised while some token is open ----

const modules = new Map<string, { module: graphene.Module; refs: number }>();

function retainModule(library: string): graphene.Module {
  let entry = modules.get(library);
  if (!entry) {
    let module: graphene.Module;
    try {
      module = graphene.Module.load(library, 'pkcs11');
    } catch (cause) {
      throw hsmError('HSM_PKCS11_LIBRARY', `cannot load the PKCS#11 library ${library}`, {
        cause,
        details: { library },
      });
    }
    entry = { module, refs: 0 };
    modules.set(library, entry);
  }
  if (entry.refs === 0) {
    try {
      // C_Initialize(NULL) tells the library this process will not call it from several threads; graphene's
      // callback calls run on libuv worker threads, and that combination corrupted SoftHSM's heap in 10 of 12
      // runs (hardware-signing.md §2.4). OS locking makes the library lock for itself.
      entry.module.initialize({ flags: CKF_OS_LOCKING_OK });
    } catch (cause) {
      throw hsmError(
        'HSM_PKCS11_LIBRARY',
        `cannot initialise the PKCS#11 library ${library}${ckrOf(cause) ? ` (${ckrOf(cause)})` : ''}`,
        {
          cause,
          details: { library, ckr: ckrOf(cause) },
        },
      );
    }
  }
  entry.refs++;
  return entry.module;
}

function releaseModule(library: string): void {
  const entry = modules.get(library);
  if (!entry || entry.refs === 0) return;
  entry.refs--;
  if (entry.refs === 0) {
    try {
      entry.module.finalize();
    } catch {
      // Already finalised: nothing left to release.
    }
  }
}

function tokenLabels(
  module: graphene.Module,
): { slot: graphene.Slot; label: string; initialized: boolean }[] {
  const out: { slot: graphene.Slot; label: string; initialized: boolean }[] = [];
  const slots = module.getSlots(true);
  for (let i = 0; i < slots.length; i++) {
    const slot = slots.items(i);
    const token = slot.getToken();
    out.push({ slot, label: token.label.trim(), initialized: (token.flags & CKF_TOKEN_INITIALIZED) !== 0 });
  }
  return out;
}

/** The slot of the token labelled `label`; slot ids are reassigned, labels are what operators set. */
function findSlot(module: graphene.Module, label: string): graphene.Slot {
  let matches: ReturnType<typeof tokenLabels>;
  try {
    matches = tokenLabels(module).filter((t) => t.initialized && t.label === label);
  } catch (e) {
    throw pkcs11Error(e, 'listing the tokens');
  }
  if (matches.length === 0) {
    throw hsmError('HSM_TOKEN_NOT_FOUND', `no token labelled "${label}" is present`, {
      details: { token: label },
    });
  }
  if (matches.length > 1) {
    throw hsmError('HSM_LABEL_AMBIGUOUS', `${matches.length} tokens are labelled "${label}"`, {
      details: { token: label },
    });
  }
  return matches[0]!.slot;
}

// ---- sealed key object ----

interface SealedKey {
  /** Compressed public key recorded beside the wrapped scalar. */
  readonly publicKey: Uint8Array;
  readonly wrapped: Buffer;
}

function encodeSealed(publicKey: Uint8Array, wrapped: Uint8Array): Buffer {
  return Buffer.concat([SEALED_MAGIC, Uint8Array.of(SEALED_VERSION), publicKey, wrapped]);
}

function decodeSealed(value: Buffer | undefined, label: string): SealedKey {
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
function withUnsealedKey<T>(
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

// ---- an open token: module reference, slot, logged-in session pool, KEK handle ----

interface Lease {
  readonly session: graphene.Session;
  readonly kek: Handle;
}

class Token {
  readonly config: Pkcs11CustodyConfig;
  readonly module: graphene.Module;
  readonly slot: graphene.Slot;
  readonly #readWrite: boolean;
  readonly #size: number;
  #idle: graphene.Session[] = [];
  #busy = new Set<graphene.Session>();
  #waiters: { resolve: (s: graphene.Session) => void; reject: (e: unknown) => void }[] = [];
  #kek: Handle | undefined;
  #closed = false;

  private constructor(
    config: Pkcs11CustodyConfig,
    module: graphene.Module,
    slot: graphene.Slot,
    readWrite: boolean,
    size: number,
  ) {
    this.config = config;
    this.module = module;
    this.slot = slot;
    this.#readWrite = readWrite;
    this.#size = size;
  }

  /**
   * Finds the token by label, opens one session and logs in with the PIN. Sessions are read-only
   * unless `readWrite`: signing creates only session objects, which a read-only session may.
   */
  static async open(
    config: Pkcs11CustodyConfig,
    opts: { readWrite: boolean; sessions?: number },
  ): Promise<Token> {
    const module = retainModule(config.library);
    try {
      const token = new Token(
        config,
        module,
        findSlot(module, config.tokenLabel),
        opts.readWrite,
        opts.sessions ?? 1,
      );
      token.#idle.push(await token.#openSession());
      return token;
    } catch (e) {
      releaseModule(config.library);
      throw e;
    }
  }

  async #openSession(): Promise<graphene.Session> {
    let session: graphene.Session;
    try {
      session = this.slot.open(
        graphene.SessionFlag.SERIAL_SESSION | (this.#readWrite ? graphene.SessionFlag.RW_SESSION : 0),
      );
    } catch (e) {
      throw pkcs11Error(e, `opening a session on token "${this.config.tokenLabel}"`);
    }
    try {
      const { state } = session.lib.C_GetSessionInfo(session.handle);
      // Login is per token and application: a new session of a logged-in token is logged in already.
      if (state !== CKS_RO_USER_FUNCTIONS && state !== CKS_RW_USER_FUNCTIONS) {
        const pin = await readSecret(this.config.pin, 'PIN');
        try {
          session.login(pin, graphene.UserType.USER);
        } catch (e) {
          const ckr = ckrOf(e);
          if (ckr === 'CKR_PIN_INCORRECT' || ckr === 'CKR_PIN_LEN_RANGE') {
            throw hsmError('HSM_PIN_INCORRECT', `token "${this.config.tokenLabel}" refused the PIN`, {
              cause: e,
              details: { token: this.config.tokenLabel, ckr },
            });
          }
          if (ckr === 'CKR_PIN_LOCKED') {
            throw hsmError('HSM_PIN_LOCKED', `token "${this.config.tokenLabel}" has locked its user PIN`, {
              cause: e,
              details: { token: this.config.tokenLabel },
            });
          }
          if (ckr !== 'CKR_USER_ALREADY_LOGGED_IN')
            throw pkcs11Error(e, `login to token "${this.config.tokenLabel}"`);
        }
      }
      return session;
    } catch (e) {
      try {
        session.close();
      } catch {
        // Best effort: the session is unusable either way.
      }
      throw e;
    }
  }

  /** A session (from the pool, or newly opened up to the pool size) and the KEK handle. */
  async acquire(): Promise<Lease> {
    if (this.#closed) throw hsmError('HSM_CLOSED', 'the pkcs11 custody backend is closed');
    let session = this.#idle.pop();
    if (!session) {
      if (this.#busy.size < this.#size) session = await this.#openSession();
      else
        session = await new Promise<graphene.Session>((resolve, reject) =>
          this.#waiters.push({ resolve, reject }),
        );
    }
    this.#busy.add(session);
    try {
      this.#kek ??= findKek(session, this.config.kekLabel);
      return { session, kek: this.#kek };
    } catch (e) {
      this.release(session, true);
      throw e;
    }
  }

  /** Returns a session; a broken one is closed (which destroys its session objects) and replaced on demand. */
  release(session: graphene.Session, broken: boolean): void {
    this.#busy.delete(session);
    if (broken || this.#closed) {
      if (broken) this.#kek = undefined;
      try {
        session.close();
      } catch {
        // Closed or gone already.
      }
      const waiter = this.#closed ? undefined : this.#waiters.shift();
      if (waiter) this.#openSession().then(waiter.resolve, waiter.reject);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(session);
    else this.#idle.push(session);
  }

  /** Runs `fn` on a leased session; a session whose PKCS#11 call failed with a session-level error is discarded. */
  async use<T>(fn: (lease: Lease) => NotPromise<T>): Promise<NotPromise<T>> {
    const lease = await this.acquire();
    let broken = false;
    try {
      return fn(lease);
    } catch (e) {
      broken = BROKEN_SESSION.has(ckrOf(e) ?? '') || BROKEN_SESSION.has(ckrOf((e as Error).cause) ?? '');
      throw e;
    } finally {
      this.release(lease.session, broken);
    }
  }

  /** Every session, open or busy; for counting objects. */
  get sessions(): readonly graphene.Session[] {
    return [...this.#idle, ...this.#busy];
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiters.splice(0))
      w.reject(hsmError('HSM_CLOSED', 'the pkcs11 custody backend is closed'));
    for (const s of this.#idle.splice(0)) {
      try {
        s.close();
      } catch {
        // Gone already.
      }
    }
    // Busy sessions are closed by release(); finalising the module ends them in any case.
    releaseModule(this.config.library);
  }
}

/** The one secret key labelled `label`, or undefined; two under one label are refused, custody does not guess. */
function findSecretKey(
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
function findKek(session: graphene.Session, label: string): Handle {
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

function findSealedObject(session: graphene.Session, label: string): graphene.SessionObject | undefined {
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

function readSealed(session: graphene.Session, label: string): SealedKey {
  const object = findSealedObject(session, label);
  if (!object) {
    throw hsmError('HSM_SEALED_KEY_NOT_FOUND', `the token holds no sealed covenant key labelled "${label}"`, {
      details: { keyLabel: label },
    });
  }
  return decodeSealed(object.getAttribute(CKA_VALUE) as Buffer | undefined, label);
}

/** Unseals and checks that the scalar's public key is the recorded one. */
function assertSealedMatches(lease: Lease, sealed: SealedKey, label: string): void {
  withUnsealedKey(lease.session.lib, lease.session.handle, lease.kek, sealed, (key) => {
    if (keyInfoOf(key).compressed !== toHex(sealed.publicKey)) {
      throw hsmError(
        'HSM_SEALED_KEY_INVALID',
        `the sealed key "${label}" does not match its recorded public key`,
        {
          details: { keyLabel: label },
        },
      );
    }
    return undefined;
  });
}

// ---- the signer's audit key and anchor ----

/** The audit key's handle, after checking it can only MAC: a sensitive, non-extractable token secret allowed to sign. */
function findAuditKey(session: graphene.Session, label: string): Handle | undefined {
  const key = findSecretKey(session, label, 'audit key', { auditKeyLabel: label });
  if (!key) return undefined;
  const a = key.getAttribute({ keyType: null, sensitive: null, extractable: null, sign: null, token: null });
  if (
    (a.keyType !== CKK_GENERIC_SECRET && a.keyType !== CKK_SHA256_HMAC) ||
    a.sensitive !== true ||
    a.extractable !== false ||
    a.sign !== true ||
    a.token !== true
  ) {
    throw hsmError(
      'HSM_AUDIT_KEY_INVALID',
      `the key "${label}" is not a sensitive, non-extractable secret token key allowed to sign`,
      { details: { auditKeyLabel: label } },
    );
  }
  return key.handle;
}

/**
 * Finds the audit key or generates it in the token: 256 bits from the token's RNG, sensitive, never
 * extractable, not modifiable, usable only for CKM_SHA256_HMAC sign and verify. Returns whether it
 * was created, so the caller can say so loudly.
 */
function ensureAuditKey(session: graphene.Session, label: string): { handle: Handle; created: boolean } {
  const existing = findAuditKey(session, label);
  if (existing) return { handle: existing, created: false };
  try {
    const handle = session.generateKey(graphene.KeyGenMechanism.GENERIC_SECRET, {
      class: graphene.ObjectClass.SECRET_KEY,
      keyType: graphene.KeyType.GENERIC_SECRET,
      valueLen: 32,
      label,
      token: true,
      private: true,
      sensitive: true,
      extractable: false,
      modifiable: false,
      sign: true,
      verify: true,
      encrypt: false,
      decrypt: false,
      wrap: false,
      unwrap: false,
      derive: false,
    }).handle;
    return { handle, created: true };
  } catch (e) {
    throw pkcs11Error(e, `generating the audit key "${label}"`);
  }
}

/**
 * The anchor objects. SoftHSM, like the spec allows, makes CKA_VALUE of a data object read-only, so
 * an anchor is replaced by creating its successor and then destroying the predecessor. Each value
 * starts with an 8-byte big-endian generation, so a crash between the two leaves two objects and the
 * higher generation wins: a replacement is never half done.
 */
function anchorObjects(
  session: graphene.Session,
  label: string,
): { object: graphene.SessionObject; generation: bigint; value: Buffer }[] {
  let found: graphene.SessionObjectCollection;
  try {
    found = session.find({ class: graphene.ObjectClass.DATA, label, application: ANCHOR_APPLICATION });
  } catch (e) {
    throw pkcs11Error(e, `looking up the audit anchor "${label}"`);
  }
  const out = [];
  for (let i = 0; i < found.length; i++) {
    const object = found.items(i);
    const raw = object.getAttribute(CKA_VALUE) as Buffer | undefined;
    if (!raw || raw.length < 8) {
      throw hsmError('HSM_PKCS11_ERROR', `the audit anchor "${label}" is shorter than its generation`, {
        details: { auditAnchorLabel: label },
      });
    }
    out.push({ object, generation: raw.readBigUInt64BE(0), value: raw.subarray(8) });
  }
  return out.sort((a, b) => (a.generation < b.generation ? 1 : a.generation > b.generation ? -1 : 0));
}

/**
 * The audit capability of a token: HMAC-SHA256 computed inside the token under the audit key, and
 * the anchor as a private token data object. Runs on its own read-write session (token objects can
 * only be changed from one), so the signing pool stays read-only and MACs never wait for a signature.
 */
class TokenAudit implements AuditCustody {
  readonly description: string;
  readonly #token: Token;
  readonly #keyLabel: string;
  readonly #anchorLabel: string;

  constructor(token: Token) {
    this.#token = token;
    const { tokenLabel, auditKeyLabel, auditAnchorLabel } = token.config;
    this.#keyLabel = auditKeyLabel;
    this.#anchorLabel = auditAnchorLabel;
    this.description = `pkcs11: audit MAC key "${auditKeyLabel}" (non-extractable, HMAC computed in the token) and anchor "${auditAnchorLabel}" in token "${tokenLabel}"; only a holder of the token and its PIN can forge records or move the anchor`;
  }

  async mac(messages: readonly Uint8Array[]): Promise<Uint8Array[]> {
    try {
      return await this.#token.use(({ session }) => {
        const key = findAuditKey(session, this.#keyLabel);
        if (!key) {
          throw hsmError(
            'HSM_AUDIT_KEY_INVALID',
            `the token holds no audit key labelled "${this.#keyLabel}"`,
            {
              details: { auditKeyLabel: this.#keyLabel },
            },
          );
        }
        const out = Buffer.alloc(32);
        return messages.map((m) => {
          session.lib.C_SignInit(session.handle, { mechanism: CKM_SHA256_HMAC }, key);
          return Uint8Array.from(session.lib.C_Sign(session.handle, Buffer.from(m), out));
        });
      });
    } catch (e) {
      throw pkcs11Error(e, 'the audit MAC');
    }
  }

  async readAnchor(): Promise<Uint8Array | undefined> {
    try {
      return await this.#token.use(({ session }) => {
        const v = anchorObjects(session, this.#anchorLabel)[0]?.value;
        return v && Uint8Array.from(v);
      });
    } catch (e) {
      throw pkcs11Error(e, 'reading the audit anchor');
    }
  }

  async writeAnchor(next: Uint8Array, expected: Uint8Array | undefined): Promise<void> {
    try {
      await this.#token.use(({ session }) => {
        // Compare and replace in one synchronous block: nothing in this process runs in between.
        const all = anchorObjects(session, this.#anchorLabel);
        if (!anchorIs(all[0]?.value, expected)) {
          throw hsmError(
            'HSM_AUDIT_ANCHOR_CONFLICT',
            `the audit anchor "${this.#anchorLabel}" changed since this process last wrote it`,
            { details: { auditAnchorLabel: this.#anchorLabel } },
          );
        }
        const generation = Buffer.alloc(8);
        generation.writeBigUInt64BE((all[0]?.generation ?? 0n) + 1n);
        session.create({
          class: graphene.ObjectClass.DATA,
          token: true,
          private: true,
          modifiable: false,
          label: this.#anchorLabel,
          application: ANCHOR_APPLICATION,
          value: Buffer.concat([generation, next]),
        });
        for (const old of all) old.object.destroy();
        return undefined;
      });
    } catch (e) {
      throw pkcs11Error(e, 'writing the audit anchor');
    }
  }
}

// ---- the backend ----

/**
 * The pkcs11 custody backend: one sealed covenant key in one token. Exported for tests, which also
 * count the objects its sessions see; the service reaches it through openCustody.
 */
export class Pkcs11Custody implements CustodyBackend {
  readonly kind = 'pkcs11' as const;
  readonly #token: Token;
  readonly #auditToken: Token;
  readonly #sealed: SealedKey;
  readonly #xOnly: XOnlyKey;
  readonly #queue = new SignQueue();
  readonly audit: AuditCustody;
  #closed = false;

  constructor(token: Token, auditToken: Token, sealed: SealedKey) {
    this.#token = token;
    this.#auditToken = auditToken;
    this.#sealed = sealed;
    this.#xOnly = xOnlyOf(
      parseCompressedKey(sealed.publicKey, 'the sealed key’s public key', 'HSM_SEALED_KEY_INVALID'),
    );
    this.audit = new TokenAudit(auditToken);
  }

  #assertOpen(): void {
    if (this.#closed) throw hsmError('HSM_CLOSED', 'the pkcs11 custody backend is closed');
  }

  #locked = false;
  get locked(): boolean {
    return this.#locked;
  }

  /**
   * A gate, not C_Logout: the audit log's MAC key and anchor live in the same token, and a logged-out
   * token could not record the refusals made while locked. Nothing is unsealed while locked.
   */
  async lock(): Promise<void> {
    this.#assertOpen();
    this.#locked = true;
  }

  /** The PIN must be the token's user PIN as configured (compared in constant time, as hashes). */
  async unlock(pin: string): Promise<void> {
    this.#assertOpen();
    const configured = await readSecret(this.#token.config.pin, 'PIN');
    const digest = (v: string) => createHash('sha256').update(v, 'utf8').digest();
    if (!timingSafeEqual(digest(pin), digest(configured))) {
      throw hsmError(
        'HSM_PIN_INCORRECT',
        `the PIN given to unlock token "${this.#token.config.tokenLabel}" is not its PIN`,
      );
    }
    this.#locked = false;
  }

  #assertUnlocked(): void {
    if (this.#locked) throw hsmError('HSM_LOCKED', 'the pkcs11 custody backend is locked');
  }

  async publicKeys(): Promise<readonly XOnlyKey[]> {
    this.#assertOpen();
    return [copyXOnlyKey(this.#xOnly)];
  }

  /**
   * Unseal, sign, wipe, verify. Unseal-sign-wipe is one synchronous step (about 1.2 ms, of which the
   * PKCS#11 calls are about 0.15–0.35 ms: see README), one signature per event-loop turn (SignQueue).
   * The sealed blob is cached (it is ciphertext); the unsealed key never is.
   */
  async sign(req: UnbondingSignRequest): Promise<Uint8Array> {
    this.#assertOpen();
    this.#assertUnlocked();
    assertSignRequest(req, [this.#xOnly]);
    let signature: Uint8Array;
    try {
      signature = await this.#queue.run(() =>
        this.#token.use(({ session, kek }) =>
          withUnsealedKey(session.lib, session.handle, kek, this.#sealed, (key) =>
            schnorrSign(req.sighash, key),
          ),
        ),
      );
    } catch (e) {
      throw pkcs11Error(e, 'signing');
    }
    return assertSignatureValid(req.sighash, this.#xOnly, signature);
  }

  /** As sign: unseal, make every pre-signature, wipe, in one synchronous step; then verify each. */
  async adaptorSign(req: AdaptorSignRequest): Promise<Uint8Array[]> {
    this.#assertOpen();
    this.#assertUnlocked();
    assertAdaptorSignRequest(req, [this.#xOnly]);
    let presigs: Uint8Array[];
    try {
      presigs = await this.#queue.run(() =>
        this.#token.use(({ session, kek }) =>
          withUnsealedKey(session.lib, session.handle, kek, this.#sealed, (key) => adaptorSignAll(req, key)),
        ),
      );
    } catch (e) {
      throw pkcs11Error(e, 'signing');
    }
    return presigs;
  }

  /** Token present, session logged in, KEK present and valid, sealed key present and unsealable to the same key. */
  async health(): Promise<CustodyHealth> {
    if (this.#closed) return { ok: false, detail: 'the pkcs11 custody backend is closed' };
    if (this.#locked) return { ok: false, detail: 'the pkcs11 custody backend is locked (POST /v1/unlock)' };
    const { tokenLabel, kekLabel, keyLabel } = this.#token.config;
    try {
      // The token is still in its slot (a removed token leaves the slot list).
      if (!findSlot(this.#token.module, tokenLabel).handle.equals(this.#token.slot.handle)) {
        throw hsmError(
          'HSM_TOKEN_NOT_FOUND',
          `token "${tokenLabel}" moved to another slot; restart to use it`,
        );
      }
      await this.#token.use((lease) => {
        const { state } = lease.session.lib.C_GetSessionInfo(lease.session.handle);
        if (state !== CKS_RO_USER_FUNCTIONS && state !== CKS_RW_USER_FUNCTIONS) {
          throw hsmError('HSM_PKCS11_ERROR', `the session on token "${tokenLabel}" is not logged in`);
        }
        // Fresh look-ups, not the cached handles: health must notice a deleted KEK or key.
        const kek = findKek(lease.session, kekLabel);
        const sealed = readSealed(lease.session, keyLabel);
        if (!sealed.wrapped.equals(this.#sealed.wrapped)) {
          throw hsmError(
            'HSM_SEALED_KEY_INVALID',
            `the sealed key "${keyLabel}" changed since start-up; restart to use it`,
          );
        }
        assertSealedMatches({ session: lease.session, kek }, sealed, keyLabel);
        return undefined;
      });
    } catch (e) {
      return { ok: false, detail: pkcs11Error(e, 'the health check').message };
    }
    return {
      ok: true,
      detail: `token "${tokenLabel}" present and logged in; KEK "${kekLabel}" and sealed key "${keyLabel}" present; the key unseals to ${toHex(this.#xOnly)}`,
    };
  }

  /** How many objects each of the backend's sessions sees (token objects plus its session objects). */
  async objectCounts(): Promise<number[]> {
    this.#assertOpen();
    return this.#token.sessions.map((s) => s.find().length);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#token.close();
    this.#auditToken.close();
  }
}

/**
 * Opens the pkcs11 backend: token by label, login, session pool, KEK and sealed key found, and the
 * sealed key unsealed once to check it matches its recorded public key (fail closed at start-up).
 * @throws {CodedError} HSM_PKCS11_LIBRARY, HSM_TOKEN_NOT_FOUND, HSM_LABEL_AMBIGUOUS, HSM_SECRET_…,
 *   HSM_PIN_INCORRECT, HSM_PIN_LOCKED, HSM_KEK_NOT_FOUND, HSM_KEK_INVALID, HSM_SEALED_KEY_NOT_FOUND,
 *   HSM_SEALED_KEY_INVALID, HSM_PKCS11_ERROR
 */
export async function openPkcs11Custody(
  config: Pkcs11CustodyConfig,
  opts: { logger?: CustodyLogger } = {},
): Promise<Pkcs11Custody> {
  const token = await Token.open(config, { readWrite: false, sessions: config.sessions });
  let auditToken: Token | undefined;
  try {
    const sealed = await token.use((lease) => {
      const s = readSealed(lease.session, config.keyLabel);
      assertSealedMatches(lease, s, config.keyLabel);
      return s;
    });
    auditToken = await Token.open(config, { readWrite: true, sessions: 1 });
    const { created } = await auditToken.use(({ session }) => ensureAuditKey(session, config.auditKeyLabel));
    if (created) {
      opts.logger?.warn(
        { custody: 'pkcs11', token: config.tokenLabel, auditKeyLabel: config.auditKeyLabel },
        'AUDIT KEY CREATED: the token held no audit MAC key, so one was generated in it now (a token initialised by an older version). An existing audit log will not verify under it: run `signer accept-audit-log`.',
      );
    }
    const backend = new Pkcs11Custody(token, auditToken, sealed);
    opts.logger?.info?.(
      { custody: 'pkcs11', token: config.tokenLabel, key: toHex(sealed.publicKey.subarray(1)) },
      'custody: pkcs11 token open, sealed covenant key checked',
    );
    return backend;
  } catch (e) {
    token.close();
    auditToken?.close();
    throw pkcs11Error(e, 'opening the pkcs11 backend');
  }
}

// ---- ceremonies ----

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
    // The KEK may not exist yet, so the pool's KEK look-up is bypassed.
    const session = token.sessions[0]!;
    return fn(session);
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
    assertSealedMatches({ session, kek }, sealed, config.keyLabel);
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
    return await token.use((lease) => {
      const sealed = readSealed(lease.session, config.keyLabel);
      return withUnsealedKey(lease.session.lib, lease.session.handle, lease.kek, sealed, (key) => {
        const info = keyInfoOf(key);
        if (info.compressed !== toHex(sealed.publicKey)) {
          throw hsmError(
            'HSM_SEALED_KEY_INVALID',
            `the sealed key "${config.keyLabel}" does not match its recorded public key`,
          );
        }
        return use(key, info);
      });
    });
  } finally {
    token.close();
  }
}
