import type { Transaction } from 'bitcoinjs-lib';
import type { XOnlyKey } from '../common/index.ts';
import type { Leaf } from '../staking/index.ts';

/** The custody backends. Config selects one with `backend = "…"`. */
export type CustodyKind = 'pkcs11' | 'bitcoind-wallet' | 'file';

/**
 * One unbonding signature to make. The signer has already checked everything; custody only signs.
 * `sighash` is the BIP341 script-path sighash (SIGHASH_DEFAULT) over the staking output's
 * unbonding leaf, computed by staking/. Backends that sign a sighash (`pkcs11`, `file`) use it;
 * `bitcoind-wallet` builds a PSBT from the transaction data and its answer is verified against
 * the same sighash by the signer.
 */
export interface UnbondingSignRequest {
  /** The covenant key (x-only) to sign with; must be one this backend holds. */
  readonly key: XOnlyKey;
  readonly sighash: Uint8Array;
  /** The unsigned unbonding transaction (1 input, 1 output). */
  readonly unbondingTx: Transaction;
  /** The staking output it spends. */
  readonly stakingOutput: { readonly script: Uint8Array; readonly valueSat: bigint };
  /** The staking output's unbonding leaf with its control block. */
  readonly leaf: Leaf;
}

/**
 * Phase-2 adaptor pre-signatures to make with one key, in one unseal: one per item, in order. The
 * signer has already checked the delegation; custody signs and checks each result.
 */
export interface AdaptorSignRequest {
  readonly key: XOnlyKey;
  readonly items: ReadonlyArray<{
    /** The BIP341 sighash of the slashing or unbonding-slashing tx (32 bytes). */
    readonly sighash: Uint8Array;
    /** The 33-byte compressed encryption key (babylonEncryptionKey of a finality provider's key). */
    readonly encryptionKey: Uint8Array;
  }>;
}

export interface CustodyHealth {
  readonly ok: boolean;
  /** One sentence for /readyz and the start-up self-test; never secrets. */
  readonly detail: string;
}

/**
 * What the signer's audit log needs from custody: a keyed MAC whose key only custody holds, and one
 * small sealed value (the anchor: the log's head) that a copy of the log cannot roll back. The
 * signer encodes and MACs the anchor itself; custody only keeps it. See signer/README.md.
 */
export interface AuditCustody {
  /** One sentence for logs and `verify-audit`: where the key and the anchor live, and so what they guarantee. */
  readonly description: string;
  /**
   * HMAC-SHA256 of each message under the backend's audit key, in order; one call per batch.
   * @throws {CodedError} HSM_… codes (locked, unreachable, audit key missing or invalid)
   */
  mac(messages: readonly Uint8Array[]): Promise<Uint8Array[]>;
  /** The anchor last written, or undefined when none ever was. */
  readAnchor(): Promise<Uint8Array | undefined>;
  /**
   * Replaces the anchor, durably, only if it still is `expected` (undefined: none yet). A mismatch
   * means another writer (a second signer on the same custody, the accept command) moved it.
   * @throws {CodedError} HSM_AUDIT_ANCHOR_CONFLICT, and the backend's write failures
   */
  writeAnchor(next: Uint8Array, expected: Uint8Array | undefined): Promise<void>;
}

/**
 * Key custody behind one small interface (tmkms's Signer, Boltz's WalletProvider). The signer
 * never knows which backend signs; logs and metrics carry `kind`.
 */
export interface CustodyBackend {
  readonly kind: CustodyKind;
  /** The covenant keys this backend can sign with (x-only). */
  publicKeys(): Promise<readonly XOnlyKey[]>;
  /**
   * A 64-byte BIP340 signature by `req.key` over `req.sighash`. The in-process backends (pkcs11,
   * file) do not verify it: the signer verifies every signature custody returns against its own
   * sighash and key before answering, and one verification is enough. bitcoind-wallet checks the
   * signature it picks from the wallet's PSBT, an outside answer it must tell apart from others.
   * @throws {CodedError} HSM_… codes (key not held, backend locked or unreachable, signing failed)
   */
  sign(req: UnbondingSignRequest): Promise<Uint8Array>;
  /**
   * Phase 2: 65-byte Schnorr adaptor pre-signatures (staking/adaptorEncSign), fresh aux randomness
   * each. Absent on a backend that cannot make them (bitcoind-wallet: a wallet signs only plain
   * BIP340), and the signer then refuses to start with phase 2 enabled. Not verified here:
   * adaptorEncSign verifies what it makes, and the signer verifies what custody returns.
   * @throws {CodedError} HSM_… codes, as sign
   */
  adaptorSign?(req: AdaptorSignRequest): Promise<Uint8Array[]>;
  /**
   * The reference phase-2 signer's lock (POST /v1/lock): signing refused (HSM_LOCKED) until
   * unlock. Absent on a backend without one. The audit key stays usable, so refusals while locked
   * are still recorded.
   */
  lock?(): Promise<void>;
  /**
   * Unlock with the backend's secret (file: the key file passphrase; pkcs11: the token PIN).
   * @throws {CodedError} HSM_KEY_FILE_DECRYPT_FAILED, HSM_PIN_INCORRECT
   */
  unlock?(secret: string): Promise<void>;
  /** Whether lock() is in force. */
  readonly locked?: boolean;
  /** The audit log's key and anchor (see AuditCustody). */
  readonly audit: AuditCustody;
  /** Reachable, unlocked, and holding at least one key. */
  health(): Promise<CustodyHealth>;
  /** Releases sessions, connections and key material. Idempotent. */
  close(): Promise<void>;
}
