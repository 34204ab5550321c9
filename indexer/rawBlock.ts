import { opcodes } from 'bitcoinjs-lib';
import { CodedError, sha256, toHex } from '../common/index.ts';
import { V0_OP_RETURN_SCRIPT_BYTES } from '../staking/index.ts';
import type { IndexerErrorCode } from './errors.ts';

/**
 * A cheap walk over a serialized block (getblock verbosity 0). Decoding every transaction of every
 * block with bitcoinjs would allocate objects for every input, output and witness item; almost
 * none of them can matter to Babylon. This walk only moves a cursor and looks at two things per
 * transaction: output scripts of exactly 73 bytes that start with OP_RETURN and carry the params
 * tag (a possible v0 staking tx, staking-protocol.md §4.3 step 1), and the prevout hash of each
 * input (a possible spend of a tracked staking or unbonding output). Only such candidates are
 * handed on, as the subarray of their bytes, for a full decode.
 */

const OP_RETURN = opcodes.OP_RETURN;

export interface BlockHeaderInfo {
  /** Block hash, display order hex (double SHA-256 of the 80-byte header, reversed). */
  readonly hashHex: string;
  readonly prevHashHex: string;
  /** Header time, unix seconds. */
  readonly time: number;
}

export interface CandidateTx {
  /** Position in the block (0 = coinbase). */
  readonly index: number;
  /** The transaction's serialization, a view into the block's bytes. */
  readonly bytes: Uint8Array;
  /**
   * Where the inputs and outputs lie in `bytes` (after the segwit marker, before the witnesses):
   * with the version and lock time they are the serialization the txid hashes.
   */
  readonly bodyStart: number;
  readonly bodyEnd: number;
  /** Some input's prevout hash passed `mayTrack`: it may spend a tracked output. */
  readonly spends: boolean;
  /** An output is a v0 OP_RETURN with the params tag: it may be a staking tx. */
  readonly tagged: boolean;
  /** Its numbers of inputs and outputs. */
  readonly inputs: number;
  readonly outputs: number;
  /** Its txid, when whoever found the candidate had to hash it anyway (the prescan). */
  readonly txid?: string;
}

/**
 * The txid (display-order hex) of a candidate: double SHA-256 of its serialization without
 * witnesses, hashed from the block's bytes in place (bitcoinjs would re-serialize the decoded tx).
 */
export function candidateTxid(c: CandidateTx): string {
  const b = c.bytes;
  const segwit = c.bodyStart !== 4;
  const witnessFree = segwit
    ? Buffer.concat([b.subarray(0, 4), b.subarray(c.bodyStart, c.bodyEnd), b.subarray(b.length - 4)])
    : b;
  return toHex(sha256(sha256(witnessFree)).reverse());
}

export interface ScanFilter {
  /** The params tag in force at the block's height, or undefined below the first activation. */
  readonly tag: Uint8Array | undefined;
  /**
   * May an output of the transaction with this internal-order hash (32 bytes at `offset` of
   * `buf`) be tracked? False must mean certainly not; true may be a false positive.
   */
  mayTrack(buf: Uint8Array, offset: number): boolean;
}

function malformed(why: string): CodedError<IndexerErrorCode> {
  return new CodedError<IndexerErrorCode>('INDEXER_BAD_BLOCK', `the node returned a malformed block: ${why}`);
}

/**
 * Reads the 80-byte header of a block, or of the header alone (what the fetch thread hands over
 * with a prescan). @throws {CodedError} INDEXER_BAD_BLOCK
 */
export function readHeader(raw: Uint8Array): BlockHeaderInfo {
  if (raw.length < 80) throw malformed('shorter than a header');
  const hash = sha256(sha256(raw.subarray(0, 80))).reverse();
  const prev = Uint8Array.from(raw.subarray(4, 36)).reverse();
  const time = (raw[68]! | (raw[69]! << 8) | (raw[70]! << 16) | (raw[71]! << 24)) >>> 0;
  return { hashHex: toHex(hash), prevHashHex: toHex(prev), time };
}

/**
 * Walks the transactions of a block, lazily: `filter.mayTrack` is consulted at the moment each
 * transaction is reached, so outputs that an earlier transaction of the same block created (and
 * the caller started tracking) are seen by later ones. The generator's return value is the number
 * of transactions in the block.
 *
 * The cursor is a local of this function and the one-byte CompactSize (nearly every count and
 * length) is read inline: the walk touches every transaction of every block, and a cursor shared
 * with helper closures lives in a heap context that every read and write goes through.
 * @throws {CodedError} INDEXER_BAD_BLOCK when the bytes do not parse as a block
 */
export function* scanBlock(raw: Uint8Array, filter: ScanFilter): Generator<CandidateTx, number> {
  const n = raw.length;
  const tag = filter.tag;
  let p = 80;
  if (p >= n) throw truncated(p);
  let txCount = raw[p]!;
  if (txCount < 0xfd) p += 1;
  else {
    txCount = longVarint(raw, p);
    p += prefixedSize(raw[p]!);
  }
  for (let t = 0; t < txCount; t++) {
    const start = p;
    if (p + 4 > n) throw truncated(p);
    p += 4;
    let segwit = false;
    if (raw[p] === 0x00 && raw[p + 1] === 0x01) {
      segwit = true;
      p += 2;
    }
    let spends = false;
    let tagged = false;
    const bodyStart = p - start;
    if (p >= n) throw truncated(p);
    let nIn = raw[p]!;
    if (nIn < 0xfd) p += 1;
    else {
      nIn = longVarint(raw, p);
      p += prefixedSize(raw[p]!);
    }
    for (let i = 0; i < nIn; i++) {
      if (p + 37 > n) throw truncated(p + 36 > n ? p : p + 36);
      // The coinbase's null prevout is never tracked; mayTrack answers that like any other hash.
      if (!spends && filter.mayTrack(raw, p)) spends = true;
      p += 36;
      let len = raw[p]!;
      if (len < 0xfd) p += 1;
      else {
        len = longVarint(raw, p);
        p += prefixedSize(raw[p]!);
      }
      if (p + len + 4 > n) throw truncated(p);
      p += len + 4;
    }
    if (p >= n) throw truncated(p);
    let nOut = raw[p]!;
    if (nOut < 0xfd) p += 1;
    else {
      nOut = longVarint(raw, p);
      p += prefixedSize(raw[p]!);
    }
    for (let o = 0; o < nOut; o++) {
      if (p + 9 > n) throw truncated(p + 8 > n ? p : p + 8);
      p += 8;
      let len = raw[p]!;
      if (len < 0xfd) p += 1;
      else {
        len = longVarint(raw, p);
        p += prefixedSize(raw[p]!);
      }
      if (p + len > n) throw truncated(p);
      if (
        len === V0_OP_RETURN_SCRIPT_BYTES &&
        !tagged &&
        tag !== undefined &&
        raw[p] === OP_RETURN &&
        // The payload is script[2..]: tag(4) then version 0 (as staking/ reads it).
        raw[p + 2] === tag[0] &&
        raw[p + 3] === tag[1] &&
        raw[p + 4] === tag[2] &&
        raw[p + 5] === tag[3] &&
        raw[p + 6] === 0
      ) {
        tagged = true;
      }
      p += len;
    }
    const bodyEnd = p - start;
    if (segwit) {
      for (let i = 0; i < nIn; i++) {
        if (p >= n) throw truncated(p);
        let items = raw[p]!;
        if (items < 0xfd) p += 1;
        else {
          items = longVarint(raw, p);
          p += prefixedSize(raw[p]!);
        }
        for (let k = 0; k < items; k++) {
          if (p >= n) throw truncated(p);
          let len = raw[p]!;
          if (len < 0xfd) p += 1;
          else {
            len = longVarint(raw, p);
            p += prefixedSize(raw[p]!);
          }
          if (p + len > n) throw truncated(p);
          p += len;
        }
      }
    }
    if (p + 4 > n) throw truncated(p);
    p += 4;
    if (spends || tagged) {
      yield {
        index: t,
        bytes: raw.subarray(start, p),
        bodyStart,
        bodyEnd,
        spends,
        tagged,
        inputs: nIn,
        outputs: nOut,
      };
    }
  }
  if (p !== n) throw malformed(`${n - p} bytes after the last transaction`);
  return txCount;
}

function truncated(at: number): CodedError<IndexerErrorCode> {
  return malformed(`truncated at byte ${at}`);
}

/**
 * A CompactSize of 3, 5 or 9 bytes at `raw[p]` (whose first byte the caller read: ≥ 0xfd; its
 * size is `prefixedSize` of that byte).
 * @throws {CodedError} INDEXER_BAD_BLOCK when truncated or beyond 2^32
 */
function longVarint(raw: Uint8Array, p: number): number {
  const b = raw[p]!;
  if (p + prefixedSize(b) > raw.length) throw truncated(p);
  if (b === 0xfd) return raw[p + 1]! | (raw[p + 2]! << 8);
  const lo = (raw[p + 1]! | (raw[p + 2]! << 8) | (raw[p + 3]! << 16) | (raw[p + 4]! << 24)) >>> 0;
  if (b === 0xff) {
    const hi = (raw[p + 5]! | (raw[p + 6]! << 8) | (raw[p + 7]! << 16) | (raw[p + 8]! << 24)) >>> 0;
    if (hi !== 0) throw malformed('a count beyond 2^32');
  }
  return lo;
}

function prefixedSize(b: number): number {
  return b < 0xfd ? 1 : b === 0xfd ? 3 : b === 0xfe ? 5 : 9;
}
