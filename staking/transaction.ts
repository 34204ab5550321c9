import { Transaction } from 'bitcoinjs-lib';
import { CodedError, isCodedError, parseHex, sha256, toHex } from '../common/index.ts';

/** No consensus-valid transaction is larger than a block's 4,000,000 weight units. */
export const MAX_TX_BYTES = 4_000_000;

/**
 * Deserializes exactly one transaction from hex or bytes. bitcoinjs throws assorted plain errors on
 * bad input; they become one coded error so no caller ever sees a raw library exception.
 * @throws {CodedError} STAKING_BAD_HEX, STAKING_TX_TOO_LARGE, STAKING_TX_MALFORMED,
 * STAKING_TX_NONCANONICAL_VARINT
 */
export function parseTransaction(input: string | Uint8Array, field = 'transaction'): Transaction {
  if (typeof input === 'string' && input.length > MAX_TX_BYTES * 2) {
    throw new CodedError('STAKING_TX_TOO_LARGE', `${field} is larger than ${MAX_TX_BYTES} bytes`);
  }
  const bytes = typeof input === 'string' ? parseHex(input, field, 'STAKING_BAD_HEX') : input;
  if (bytes.length > MAX_TX_BYTES) {
    throw new CodedError('STAKING_TX_TOO_LARGE', `${field} is larger than ${MAX_TX_BYTES} bytes`);
  }
  if (bytes.length === 0) throw new CodedError('STAKING_TX_MALFORMED', `${field} is empty`);
  try {
    return decodeTransaction(bytes);
  } catch (cause) {
    if (isCodedError(cause, 'STAKING_TX_NONCANONICAL_VARINT'))
      throw new CodedError(cause.code, `${field}: ${cause.message}`, { cause });
    throw new CodedError('STAKING_TX_MALFORMED', `${field} is not a valid serialized transaction`, { cause });
  }
}

/**
 * The txid (display order hex) of a transaction, as bitcoinjs's `getId()` (transaction.test.ts
 * holds them equal on random transactions): the double SHA-256 of its serialization without
 * witnesses, reversed, hashed with `common`'s sha256 (OpenSSL under Node; bitcoinjs hashes in
 * JavaScript). Every unbonding decision hashes two txids.
 */
export function txidOf(tx: Transaction): string {
  let length = 4 + compactSizeLength(tx.ins.length) + compactSizeLength(tx.outs.length) + 4;
  for (const i of tx.ins) length += 40 + compactSizeLength(i.script.length) + i.script.length;
  length += outputsLength(tx.outs);
  const w = hashWriter(length);
  w.u32(tx.version);
  w.compactSize(tx.ins.length);
  for (const i of tx.ins) {
    w.outpointHash(i.hash);
    w.u32(i.index);
    w.varSlice(i.script);
    w.u32(i.sequence);
  }
  w.compactSize(tx.outs.length);
  writeOutputs(w, tx.outs);
  w.u32(tx.locktime);
  return toHex(sha256(sha256(w.bytes)).reverse());
}

/**
 * Deserializes one transaction exactly as bitcoinjs's `Transaction.fromBuffer` does (same fields,
 * same errors), without what makes that slow on the indexer's path (a block sync decodes thousands
 * of candidates): a schema validation of its arguments at every call, every varint read through a
 * BigInt, and every script and witness item copied. Here they are views into `bytes`, so `bytes`
 * must not change while the transaction is in use.
 * @throws {Error} where fromBuffer throws: bytes too short, a witness flag with no witness, or
 * bytes left over after the lock time
 * @throws {CodedError} STAKING_TX_NONCANONICAL_VARINT where fromBuffer does not: a CompactSize
 * not in its shortest form, which Bitcoin's own deserializer and btcd refuse, so no such bytes
 * are ever a transaction on chain (bitcoinjs reads them, and would sign for them)
 */
export function decodeTransaction(bytes: Uint8Array): Transaction {
  const r = new TxReader(bytes);
  const tx = new Transaction();
  tx.version = r.u32();
  const segwit = bytes[r.p] === 0x00 && bytes[r.p + 1] === 0x01;
  if (segwit) r.p += 2;
  const nIn = r.varint();
  for (let i = 0; i < nIn; i++) {
    const hash = r.slice(32);
    const index = r.u32();
    const script = r.slice(r.varint());
    const sequence = r.u32();
    tx.ins.push({ hash, index, script, sequence, witness: NO_WITNESS });
  }
  const nOut = r.varint();
  for (let i = 0; i < nOut; i++) {
    const value = r.i64();
    tx.outs.push({ value, script: r.slice(r.varint()) });
  }
  if (segwit) {
    for (let i = 0; i < nIn; i++) {
      const items = r.varint();
      const witness: Uint8Array[] = [];
      for (let k = 0; k < items; k++) witness.push(r.slice(r.varint()));
      tx.ins[i]!.witness = witness;
    }
    if (!tx.hasWitnesses()) throw new Error('Transaction has superfluous witness data');
  }
  tx.locktime = r.u32();
  if (r.p !== bytes.length) throw new Error('Transaction has unexpected data');
  return tx;
}

// Shared, as bitcoinjs shares its own: inputs without a witness all hold this empty array.
const NO_WITNESS: Uint8Array[] = [];

/** A cursor over a transaction's bytes; every read checks the bounds. */
class TxReader {
  readonly #b: Uint8Array;
  readonly #view: DataView;
  p = 0;

  constructor(b: Uint8Array) {
    this.#b = b;
    this.#view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  #need(k: number): void {
    if (this.p + k > this.#b.length) throw new Error(`transaction truncated at byte ${this.p}`);
  }
  u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.p, true);
    this.p += 4;
    return v;
  }
  i64(): bigint {
    this.#need(8);
    const v = this.#view.getBigInt64(this.p, true);
    this.p += 8;
    return v;
  }
  /** A CompactSize; one beyond the bytes left can only fail the read it counts. */
  varint(): number {
    this.#need(1);
    const first = this.#b[this.p]!;
    if (first < 0xfd) {
      this.p += 1;
      return first;
    }
    if (first === 0xfd) {
      this.#need(3);
      const v = this.#view.getUint16(this.p + 1, true);
      if (v < 0xfd) this.#nonCanonical(first, v, 0xfd);
      this.p += 3;
      return v;
    }
    if (first === 0xfe) {
      this.#need(5);
      const v = this.#view.getUint32(this.p + 1, true);
      if (v <= 0xffff) this.#nonCanonical(first, v, 0x10000);
      this.p += 5;
      return v;
    }
    this.#need(9);
    const lo = this.#view.getUint32(this.p + 1, true);
    const hi = this.#view.getUint32(this.p + 5, true);
    if (hi === 0) this.#nonCanonical(first, lo, 0x100000000);
    this.p += 9;
    // Above 2^53 bitcoinjs refuses the count; anything above 2^32 is beyond any buffer anyway.
    return hi === 0 ? lo : Number.MAX_SAFE_INTEGER;
  }
  #nonCanonical(prefix: number, value: number, min: number): never {
    throw new CodedError(
      'STAKING_TX_NONCANONICAL_VARINT',
      `non-canonical CompactSize at byte ${this.p}: prefix 0x${prefix.toString(16)} must encode a value of at least 0x${min.toString(16)}, got ${value}`,
    );
  }
  slice(n: number): Uint8Array {
    this.#need(n);
    const s = this.#b.subarray(this.p, this.p + n);
    this.p += n;
    return s;
  }
}

/** The largest amount a transaction output can carry in its signed 64-bit field. */
export const MAX_I64 = 0x7fffffffffffffffn;

/** The bytes a CompactSize of `n` takes. */
export function compactSizeLength(n: number): number {
  return n < 0xfd ? 1 : n <= 0xffff ? 3 : n <= 0xffffffff ? 5 : 9;
}

type Output = Transaction['outs'][number];

/** The bytes of outputs as a transaction serializes them, without their count (BIP341's sha_outputs hashes exactly these). */
export function outputsLength(outs: readonly Output[]): number {
  let length = 0;
  for (const o of outs) length += 8 + compactSizeLength(o.script.length) + o.script.length;
  return length;
}

/** Writes outputs as a transaction serializes them, without their count. */
export function writeOutputs(w: TxWriter, outs: readonly Output[]): void {
  for (const o of outs) {
    w.i64(o.value);
    w.varSlice(o.script);
  }
}

// One array every serialization that is hashed at once and dropped is written into (hashWriter):
// a transaction's or a sighash's bytes are public, and nothing here runs concurrently with itself.
const HASH_SCRATCH = new Uint8Array(4096);

/**
 * A writer for bytes that are hashed as soon as they are written, then never read again: it writes
 * into one array shared by every such writer (a new one when `length` is larger), so a txid or a
 * sighash makes no new ArrayBuffer. Its `bytes` are valid only until the next hashWriter.
 */
export function hashWriter(length: number): TxWriter {
  return new TxWriter(length, HASH_SCRATCH);
}

/**
 * A little-endian writer over a buffer sized exactly beforehand; refuses what bitcoinjs's writer
 * refuses. It writes byte by byte, with no DataView: a view needs the array's `.buffer`, which moves
 * an array V8 keeps inside its heap (up to 64 bytes: the sighash's prevouts, amounts, sequences
 * and scripts) out into an ArrayBuffer of its own, one more for every scavenge to sweep
 * (signer/README.md, Performance). `into`: write into that array (its first `length` bytes)
 * instead of a new one, for a serialization hashed at once and then dropped.
 */
export class TxWriter {
  readonly bytes: Uint8Array;
  #p = 0;

  constructor(length: number, into?: Uint8Array) {
    if (into && into.length >= length) {
      this.bytes = into.subarray(0, length);
      this.bytes.fill(0); // as a new array: a writer that writes less hashes zeros, not the last one's bytes
    } else this.bytes = new Uint8Array(length);
  }
  u8(v: number): void {
    this.bytes[this.#p++] = v;
  }
  u32(v: number): void {
    // Buffer.writeUInt32LE (bitcoinjs's writer) throws for these; byte stores would wrap silently.
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
      throw new RangeError(
        `The value of "value" is out of range. It must be >= 0 and <= 4294967295. Received ${v}`,
      );
    this.#u32(v);
  }
  i64(v: bigint): void {
    if (v > MAX_I64 || v < -MAX_I64 - 1n)
      throw new RangeError(`The value of "value" is out of range. Received ${v}`);
    const u = BigInt.asUintN(64, v); // two's complement, as setBigInt64 stores it
    this.#u32(Number(u & 0xffffffffn));
    this.#u32(Number(u >> 32n));
  }
  compactSize(n: number): void {
    if (n < 0xfd) this.u8(n);
    else if (n <= 0xffff) {
      this.u8(0xfd);
      this.u8(n & 0xff);
      this.u8(n >>> 8);
    } else if (n <= 0xffffffff) {
      this.u8(0xfe);
      this.u32(n);
    } else {
      this.u8(0xff);
      this.#u32(n % 0x100000000);
      this.#u32(Math.floor(n / 0x100000000));
    }
  }
  /** An unsigned 32-bit value already in range. */
  #u32(v: number): void {
    const b = this.bytes;
    const p = this.#p;
    b[p] = v & 0xff;
    b[p + 1] = (v >>> 8) & 0xff;
    b[p + 2] = (v >>> 16) & 0xff;
    b[p + 3] = v >>> 24;
    this.#p = p + 4;
  }
  raw(b: Uint8Array): void {
    this.bytes.set(b, this.#p);
    this.#p += b.length;
  }
  /** An input's 32-byte prevout hash (bitcoinjs would write another length and hash garbage). */
  outpointHash(b: Uint8Array): void {
    if (b.length !== 32) throw new TypeError(`an input's prevout hash must be 32 bytes, got ${b.length}`);
    this.raw(b);
  }
  varSlice(b: Uint8Array): void {
    this.compactSize(b.length);
    this.raw(b);
  }
}
