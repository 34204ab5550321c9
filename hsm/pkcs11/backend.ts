// The pkcs11 custody backend the signer runs on: opening it (fail closed if the sealed key does not
// unseal to its recorded public key), lock/unlock, sign and adaptor-sign, health.
import { createHash, timingSafeEqual } from 'node:crypto';
import { copyXOnlyKey, parseCompressedKey, toHex, type XOnlyKey, xOnlyOf } from '../../common/index.ts';
import type { Pkcs11CustodyConfig } from '../config.ts';
import type {
  AdaptorSignRequest,
  AuditCustody,
  CustodyBackend,
  CustodyHealth,
  UnbondingSignRequest,
} from '../custody.ts';
import { hsmError } from '../errors.ts';
import type { CustodyLogger } from '../logger.ts';
import { readSecret } from '../secrets.ts';
import {
  adaptorSignAll,
  assertAdaptorSignRequest,
  assertSignRequest,
  SignQueue,
  schnorrSign,
} from '../signing.ts';
import { ensureAuditKey, TokenAudit } from './audit.ts';
import { CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS, type Handle, pkcs11Error } from './cryptoki.ts';
import { findSlot } from './module.ts';
import { assertKeyMatches, assertSealedMatches, findKek, readSealed } from './objects.ts';
import type { SealedKey } from './sealed.ts';
import { Token } from './token.ts';
import { WorkingKeys } from './workingKey.ts';

/**
 * The pkcs11 custody backend: one sealed covenant key in one token. Exported for tests, which also
 * count the objects its sessions see; the service reaches it through openCustody.
 */
export class Pkcs11Custody implements CustodyBackend {
  readonly kind = 'pkcs11' as const;
  readonly #token: Token;
  readonly #auditToken: Token;
  readonly #sealed: SealedKey;
  readonly #working: WorkingKeys;
  readonly #xOnly: XOnlyKey;
  readonly #queue = new SignQueue();
  readonly audit: AuditCustody;
  #closed = false;

  constructor(token: Token, auditToken: Token, sealed: SealedKey, working: WorkingKeys) {
    this.#token = token;
    this.#auditToken = auditToken;
    this.#sealed = sealed;
    this.#working = working;
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
   * Unseal, sign, wipe: one synchronous step, one signature per event-loop turn (SignQueue). The key
   * is decrypted by the session's working key (workingKey.ts: one C_Decrypt, made once per session
   * from the token KEK, which is looked up again at least every second). What is cached is
   * ciphertext; the unsealed key never is. Not verified here: the signer verifies every signature
   * custody returns, once (CustodyBackend.sign).
   */
  async sign(req: UnbondingSignRequest): Promise<Uint8Array> {
    this.#assertOpen();
    this.#assertUnlocked();
    assertSignRequest(req, [this.#xOnly]);
    let signature: Uint8Array;
    try {
      signature = await this.#queue.run(() =>
        this.#token.use((session) => this.#working.withKey(session, (key) => schnorrSign(req.sighash, key))),
      );
    } catch (e) {
      throw pkcs11Error(e, 'signing');
    }
    return signature;
  }

  /** As sign: unseal, make every pre-signature, wipe, in one synchronous step; then verify each. */
  async adaptorSign(req: AdaptorSignRequest): Promise<Uint8Array[]> {
    this.#assertOpen();
    this.#assertUnlocked();
    assertAdaptorSignRequest(req, [this.#xOnly]);
    let presigs: Uint8Array[];
    try {
      presigs = await this.#queue.run(() =>
        this.#token.use((session) => this.#working.withKey(session, (key) => adaptorSignAll(req, key))),
      );
    } catch (e) {
      throw pkcs11Error(e, 'signing');
    }
    return presigs;
  }

  /**
   * Token present, session logged in, KEK present and valid, sealed key present and unsealable to the
   * same key. Looks the token's objects up afresh: a KEK found gone or replaced also destroys the
   * working keys, so signing stops with it.
   */
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
      await this.#token.use((session) => {
        const { state } = session.lib.C_GetSessionInfo(session.handle);
        if (state !== CKS_RO_USER_FUNCTIONS && state !== CKS_RW_USER_FUNCTIONS) {
          throw hsmError('HSM_PKCS11_ERROR', `the session on token "${tokenLabel}" is not logged in`);
        }
        // Fresh look-ups, not the working keys: health must notice a deleted KEK or key.
        let kek: Handle;
        try {
          kek = findKek(session, kekLabel);
        } catch (e) {
          this.#working.discard();
          throw e;
        }
        this.#working.confirm(kek);
        const sealed = readSealed(session, keyLabel);
        if (!sealed.wrapped.equals(this.#sealed.wrapped)) {
          throw hsmError(
            'HSM_SEALED_KEY_INVALID',
            `the sealed key "${keyLabel}" changed since start-up; restart to use it`,
          );
        }
        assertSealedMatches(session, kek, sealed, keyLabel);
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

  /**
   * What each of the backend's signing sessions sees: how many token objects, and the attributes of
   * every session object (the working keys; an unseal leaves none behind).
   */
  async objectsSeen(): Promise<{ tokenObjects: number; sessionObjects: Record<string, unknown>[] }[]> {
    this.#assertOpen();
    return this.#token.sessions.map((s) => {
      const found = s.find();
      const seen = { tokenObjects: 0, sessionObjects: [] as Record<string, unknown>[] };
      for (let i = 0; i < found.length; i++) {
        const o = found.items(i);
        if (o.getAttribute({ token: null }).token) seen.tokenObjects++;
        else {
          seen.sessionObjects.push(
            o.getAttribute({
              class: null,
              keyType: null,
              private: null,
              sensitive: null,
              extractable: null,
              modifiable: null,
              encrypt: null,
              decrypt: null,
              sign: null,
              verify: null,
              wrap: null,
              unwrap: null,
              derive: null,
            }),
          );
        }
      }
      return seen;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#working.discard();
    this.#token.close();
    this.#auditToken.close();
  }
}

/**
 * Opens the pkcs11 backend: token by label, login, session pool, KEK and sealed key found, and the
 * sealed key unsealed once to check it matches its recorded public key, into the first session's
 * working key (fail closed at start-up).
 * @throws {CodedError} HSM_PKCS11_LIBRARY, HSM_TOKEN_NOT_FOUND, HSM_LABEL_AMBIGUOUS, HSM_SECRET_…,
 *   HSM_PIN_INCORRECT, HSM_PIN_LOCKED, HSM_KEK_NOT_FOUND, HSM_KEK_INVALID, HSM_SEALED_KEY_NOT_FOUND,
 *   HSM_SEALED_KEY_INVALID, HSM_PKCS11_ERROR
 */
export async function openPkcs11Custody(
  config: Pkcs11CustodyConfig,
  opts: { logger?: CustodyLogger; kekRecheckMs?: number } = {},
): Promise<Pkcs11Custody> {
  const token = await Token.open(config, { readWrite: false, sessions: config.sessions });
  let auditToken: Token | undefined;
  try {
    const sealed = await token.use((session) => {
      findKek(session, config.kekLabel); // a token without its KEK is refused as such, key or not
      return readSealed(session, config.keyLabel);
    });
    // The first session's working key, made now: the key unsealed under the KEK and checked against
    // its recorded public key, encrypted, then decrypted and checked again the way every signature
    // will be. A token that cannot do any of it is refused at start-up, not at the first request.
    const working = new WorkingKeys(token, sealed, { recheckMs: opts.kekRecheckMs });
    await token.use((session) =>
      working.withKey(session, (key) => {
        assertKeyMatches(key, sealed, config.keyLabel);
        return undefined;
      }),
    );
    auditToken = await Token.open(config, { readWrite: true, sessions: 1 });
    const { created } = await auditToken.use((session) => ensureAuditKey(session, config.auditKeyLabel));
    if (created) {
      opts.logger?.warn(
        { custody: 'pkcs11', token: config.tokenLabel, auditKeyLabel: config.auditKeyLabel },
        'AUDIT KEY CREATED: the token held no audit MAC key, so one was generated in it now (a token initialised by an older version). An existing audit log will not verify under it: run `signer accept-audit-log`.',
      );
    }
    const backend = new Pkcs11Custody(token, auditToken, sealed, working);
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
