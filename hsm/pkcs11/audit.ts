// The signer's audit capability in the token: the HMAC key (generated in the token, never
// extractable) and the audit anchor (anchor.ts).
import * as graphene from 'graphene-pk11';
import type { AuditCustody } from '../custody.ts';
import { hsmError } from '../errors.ts';
import { TokenAnchor } from './anchor.ts';
import {
  CKK_GENERIC_SECRET,
  CKK_SHA256_HMAC,
  CKM_SHA256_HMAC,
  ckrOf,
  type Handle,
  pkcs11Error,
} from './cryptoki.ts';
import { findSecretKey } from './objects.ts';
import type { Token } from './token.ts';

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
export function ensureAuditKey(
  session: graphene.Session,
  label: string,
): { handle: Handle; created: boolean } {
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
 * The audit capability of a token: HMAC-SHA256 computed inside the token under the audit key, and
 * the anchor as a private token data object. Runs on its own read-write session (token objects can
 * only be changed from one), so the signing pool stays read-only and MACs never wait for a signature.
 */
export class TokenAudit implements AuditCustody {
  readonly description: string;
  readonly #token: Token;
  readonly #keyLabel: string;
  readonly #anchor: TokenAnchor;
  #key: Handle | undefined;

  constructor(token: Token) {
    this.#token = token;
    const { tokenLabel, auditKeyLabel, auditAnchorLabel } = token.config;
    this.#keyLabel = auditKeyLabel;
    this.#anchor = new TokenAnchor(auditAnchorLabel);
    this.description = `pkcs11: audit MAC key "${auditKeyLabel}" (non-extractable, HMAC computed in the token) and anchor "${auditAnchorLabel}" in token "${tokenLabel}"; only a holder of the token and its PIN can forge records or move the anchor`;
  }

  async mac(messages: readonly Uint8Array[]): Promise<Uint8Array[]> {
    try {
      return await this.#token.use((session) => {
        const out = Buffer.alloc(32);
        const macAll = (key: Handle) =>
          messages.map((m) => {
            session.lib.C_SignInit(session.handle, { mechanism: CKM_SHA256_HMAC }, key);
            return Uint8Array.from(session.lib.C_Sign(session.handle, Buffer.from(m), out));
          });
        // The key's handle is kept once checked: its attributes cannot change (not modifiable;
        // sensitive and non-extractable only ever go one way), and a lookup costs the audit log a
        // token search per custody call. A handle the token no longer knows is looked up again once.
        if (this.#key !== undefined) {
          try {
            return macAll(this.#key);
          } catch (e) {
            if (ckrOf(e) !== 'CKR_KEY_HANDLE_INVALID' && ckrOf(e) !== 'CKR_OBJECT_HANDLE_INVALID') throw e;
            this.#key = undefined;
          }
        }
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
        const macs = macAll(key);
        this.#key = key;
        return macs;
      });
    } catch (e) {
      throw pkcs11Error(e, 'the audit MAC');
    }
  }

  async readAnchor(): Promise<Uint8Array | undefined> {
    try {
      return await this.#token.use((session) => {
        const v = this.#anchor.read(session);
        return v && Uint8Array.from(v);
      });
    } catch (e) {
      throw pkcs11Error(e, 'reading the audit anchor');
    }
  }

  async writeAnchor(next: Uint8Array, expected: Uint8Array | undefined): Promise<void> {
    try {
      await this.#token.use((session) => {
        this.#anchor.write(session, next, expected);
        return undefined;
      });
    } catch (e) {
      throw pkcs11Error(e, 'writing the audit anchor');
    }
  }
}
