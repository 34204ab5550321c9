// An open token: a reference to the library, the token's slot and a pool of logged-in sessions (a
// broken session is discarded, waiters queue for a free one). Which keys a session uses is its
// caller's business (workingKey.ts for signing, audit.ts for the audit MAC).
import * as graphene from 'graphene-pk11';
import type { Pkcs11CustodyConfig } from '../config.ts';
import { hsmError } from '../errors.ts';
import { readSecret } from '../secrets.ts';
import {
  CKS_RO_USER_FUNCTIONS,
  CKS_RW_USER_FUNCTIONS,
  ckrOf,
  type NotPromise,
  pkcs11Error,
} from './cryptoki.ts';
import { findSlot, releaseModule, retainModule } from './module.ts';

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

export class Token {
  readonly config: Pkcs11CustodyConfig;
  readonly module: graphene.Module;
  readonly slot: graphene.Slot;
  readonly #readWrite: boolean;
  readonly #size: number;
  #idle: graphene.Session[] = [];
  #busy = new Set<graphene.Session>();
  #waiters: { resolve: (s: graphene.Session) => void; reject: (e: unknown) => void }[] = [];
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

  /** A session: from the pool, or newly opened up to the pool size, or the next one released. */
  async acquire(): Promise<graphene.Session> {
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
    return session;
  }

  /** Returns a session; a broken one is closed (which destroys its session objects) and replaced on demand. */
  release(session: graphene.Session, broken: boolean): void {
    this.#busy.delete(session);
    if (broken || this.#closed) {
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
  async use<T>(fn: (session: graphene.Session) => NotPromise<T>): Promise<NotPromise<T>> {
    const session = await this.acquire();
    let broken = false;
    try {
      return fn(session);
    } catch (e) {
      broken = BROKEN_SESSION.has(ckrOf(e) ?? '') || BROKEN_SESSION.has(ckrOf((e as Error).cause) ?? '');
      throw e;
    } finally {
      this.release(session, broken);
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
