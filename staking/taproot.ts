import { address } from 'bitcoinjs-lib';
import {
  CodedError,
  compareBytes,
  concatBytes,
  parseXOnlyKey,
  sha256,
  type XOnlyKey,
  xOnlyTweakAdd,
} from '../common/index.ts';

/** BIP341 tapscript leaf version. */
export const LEAF_VERSION_TAPSCRIPT = 0xc0;

/**
 * The BIP341 NUMS point H (x-only): nobody knows its discrete log, so an output with it as internal
 * key has no key-path spend (babylon btcstaking/types.go `unspendableKeyPath`).
 */
export const NUMS_INTERNAL_KEY: XOnlyKey = parseXOnlyKey(
  '50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0',
  'NUMS',
  'STAKING_INVALID_KEY',
);

export type BitcoinNetwork = 'mainnet' | 'testnet' | 'signet' | 'regtest';
const BECH32_HRP: Record<BitcoinNetwork, string> = {
  mainnet: 'bc',
  testnet: 'tb',
  signet: 'tb',
  regtest: 'bcrt',
};

function compactSize(n: number): Uint8Array {
  if (n < 0xfd) return Uint8Array.of(n);
  if (n <= 0xffff) return Uint8Array.of(0xfd, n & 0xff, n >>> 8);
  return Uint8Array.of(0xfe, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
}

const tagPrefixes = new Map<string, Uint8Array>();
const LEAF_VERSION_BYTE = Uint8Array.of(LEAF_VERSION_TAPSCRIPT);

/**
 * The tags staking/ hashes with: BIP341's four, BIP340's challenge, and the two of Babylon's
 * Schnorr adaptor signatures (babylon crypto/schnorr-adaptor-signature/sig.go:14-15).
 */
export type TaggedHashTag =
  | 'TapLeaf'
  | 'TapBranch'
  | 'TapTweak'
  | 'TapSighash'
  | 'BIP0340/challenge'
  | 'SchnorrAdaptor/aux'
  | 'SchnorrAdaptor/nonce';

// Where taggedHash assembles a preimage: a preimage is at least 64 bytes, so a new array for each
// would be an ArrayBuffer of its own for the next scavenge to sweep (signer/README.md, Performance),
// a dozen a signing decision. Zeroed after each use: an adaptor nonce's preimage holds a secret.
const PREIMAGE_SCRATCH = new Uint8Array(1024);

/**
 * BIP340 tagged hash: SHA-256(SHA-256(tag) ‖ SHA-256(tag) ‖ data), where data is the parts in
 * order. The preimage is assembled once, parts included: every staking, unbonding and withdraw
 * decision hashes a dozen of them.
 */
export function taggedHash(tag: TaggedHashTag, ...data: Uint8Array[]): Uint8Array {
  let prefix = tagPrefixes.get(tag);
  if (!prefix) {
    const t = sha256(new TextEncoder().encode(tag));
    prefix = concatBytes(t, t);
    tagPrefixes.set(tag, prefix);
  }
  let length = prefix.length;
  for (const d of data) length += d.length;
  if (length > PREIMAGE_SCRATCH.length) return sha256(concatBytes(prefix, ...data));
  PREIMAGE_SCRATCH.set(prefix);
  let at = prefix.length;
  for (const d of data) {
    PREIMAGE_SCRATCH.set(d, at);
    at += d.length;
  }
  const digest = sha256(PREIMAGE_SCRATCH.subarray(0, length));
  PREIMAGE_SCRATCH.fill(0, 0, length);
  return digest;
}

/** BIP341 TapLeaf hash: tagged_hash("TapLeaf", 0xc0 ‖ compactSize(len) ‖ script). */
export function tapLeafHash(leafScript: Uint8Array): Uint8Array {
  return taggedHash('TapLeaf', LEAF_VERSION_BYTE, compactSize(leafScript.length), leafScript);
}

/** BIP341 TapBranch hash: children sorted, so sibling order never matters (btcd tapBranchHash). */
export function tapBranchHash(a: Uint8Array, b: Uint8Array): Uint8Array {
  return compareBytes(a, b) <= 0 ? taggedHash('TapBranch', a, b) : taggedHash('TapBranch', b, a);
}

/** A taproot output committed to a script tree, with what spending one of its leaves needs. */
export interface TaprootOutput {
  /** The tweaked output key Q (x-only). */
  readonly outputKey: Uint8Array;
  /** Parity of Q's y coordinate; the low bit of every control block's first byte. */
  readonly parity: 0 | 1;
  /** `OP_1 <Q>`: 51 20 ‖ Q. */
  readonly pkScript: Uint8Array;
  readonly merkleRoot: Uint8Array;
}

/**
 * Q = H + tagged_hash("TapTweak", H ‖ root)·G with H the NUMS key (BIP341 taproot_tweak_pubkey).
 * @throws {CodedError} STAKING_INVALID_ARGUMENT in the negligible case the tweak is out of range
 */
export function taprootOutput(merkleRoot: Uint8Array): TaprootOutput {
  const tweak = taggedHash('TapTweak', NUMS_INTERNAL_KEY, merkleRoot);
  const tweaked = xOnlyTweakAdd(NUMS_INTERNAL_KEY, tweak);
  if (!tweaked) throw new CodedError('STAKING_INVALID_ARGUMENT', 'taproot tweak produced an invalid point');
  const outputKey = tweaked.xOnly;
  return {
    outputKey,
    parity: tweaked.parity,
    pkScript: concatBytes(Uint8Array.of(0x51, 0x20), outputKey),
    merkleRoot,
  };
}

/** Control block: (0xc0 | parity) ‖ H ‖ merkle path (BIP341). */
export function controlBlock(out: TaprootOutput, path: readonly Uint8Array[]): Uint8Array {
  return concatBytes(Uint8Array.of(LEAF_VERSION_TAPSCRIPT | out.parity), NUMS_INTERNAL_KEY, ...path);
}

/** The bech32m address of a P2TR pkScript on a network. */
export function taprootAddress(pkScript: Uint8Array, network: BitcoinNetwork): string {
  if (pkScript.length !== 34 || pkScript[0] !== 0x51 || pkScript[1] !== 0x20) {
    throw new CodedError('STAKING_INVALID_ARGUMENT', 'not a P2TR pkScript');
  }
  return address.toBech32(pkScript.subarray(2), 1, BECH32_HRP[network]);
}

/** Whether a pkScript is a witness v1 (P2TR) output. */
export function isP2trScript(pkScript: Uint8Array): boolean {
  return pkScript.length === 34 && pkScript[0] === 0x51 && pkScript[1] === 0x20;
}
