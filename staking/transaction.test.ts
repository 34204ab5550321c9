import { Transaction } from 'bitcoinjs-lib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { decodeTransaction, parseTransaction } from './index.ts';
import { hashWriter, TxWriter } from './transaction.ts';

/** What a decode gives, in plain values: the fields, the txid and the serialization. */
function view(tx: Transaction) {
  return {
    version: tx.version,
    locktime: tx.locktime,
    ins: tx.ins.map((i) => ({
      hash: Buffer.from(i.hash).toString('hex'),
      index: i.index,
      script: Buffer.from(i.script).toString('hex'),
      sequence: i.sequence,
      witness: i.witness.map((w) => Buffer.from(w).toString('hex')),
    })),
    outs: tx.outs.map((o) => ({ value: o.value, script: Buffer.from(o.script).toString('hex') })),
    id: tx.getId(),
    hex: tx.toHex(),
  };
}

/** Both decoders on the same bytes: the same transaction, or both refuse. */
function sameAsBitcoinjs(bytes: Uint8Array): 'decoded' | 'refused' {
  let want: ReturnType<typeof view> | Error;
  try {
    want = view(Transaction.fromBuffer(bytes));
  } catch (e) {
    want = e as Error;
  }
  let got: ReturnType<typeof view> | Error;
  try {
    got = view(decodeTransaction(bytes));
  } catch (e) {
    got = e as Error;
  }
  if (want instanceof Error) {
    expect(got, `bitcoinjs refused (${want.message}); so must decodeTransaction`).toBeInstanceOf(Error);
    return 'refused';
  }
  // bitcoinjs reads a non-canonical CompactSize; Bitcoin's own serialization (and btcd) refuse it.
  // Such bytes are exactly those bitcoinjs does not write back as they came.
  if (isCodedError(got, 'STAKING_TX_NONCANONICAL_VARINT')) {
    expect(want.hex).not.toBe(Buffer.from(bytes).toString('hex'));
    return 'refused';
  }
  expect(got).toEqual(want);
  return 'decoded';
}

const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const arbTx = fc
  .record({
    version: fc.nat({ max: 0xffffffff }),
    locktime: fc.nat({ max: 0xffffffff }),
    ins: fc.array(
      fc.record({
        hash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
        index: fc.nat({ max: 0xffffffff }),
        script: bytes(120),
        sequence: fc.nat({ max: 0xffffffff }),
        witness: fc.array(bytes(300), { maxLength: 4 }),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    outs: fc.array(fc.record({ value: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), script: bytes(300) }), {
      maxLength: 4,
    }),
  })
  .map((r) => {
    const tx = new Transaction();
    tx.version = r.version;
    tx.locktime = r.locktime;
    for (const i of r.ins) tx.addInput(i.hash, i.index, i.sequence, i.script);
    r.ins.forEach((i, k) => {
      tx.setWitness(k, i.witness);
    });
    for (const o of r.outs) tx.addOutput(o.script, o.value);
    return tx.toBuffer();
  });

describe('decodeTransaction decodes exactly as bitcoinjs Transaction.fromBuffer', () => {
  it('random transactions, with and without witnesses (scripts and witness items past 252 bytes)', () => {
    let decoded = 0;
    fc.assert(
      fc.property(arbTx, (b) => {
        if (sameAsBitcoinjs(b) === 'decoded') decoded++;
      }),
      { numRuns: 1500 },
    );
    expect(decoded).toBe(1500);
  });

  it('the same transactions edited at a random byte (flip, insert, delete, truncate): the same tx, or both refuse', () => {
    const outcomes = { decoded: 0, refused: 0 };
    fc.assert(
      fc.property(
        arbTx,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom('flip', 'insert', 'delete', 'truncate'),
        (b, pos, byte, op) => {
          const i = pos % b.length;
          const edited =
            op === 'flip'
              ? Uint8Array.from(b).fill(byte, i, i + 1)
              : op === 'truncate'
                ? b.subarray(0, i)
                : op === 'delete'
                  ? Buffer.concat([b.subarray(0, i), b.subarray(i + 1)])
                  : Buffer.concat([b.subarray(0, i), Buffer.of(byte), b.subarray(i)]);
          outcomes[sameAsBitcoinjs(edited)]++;
        },
      ),
      { numRuns: 3000 },
    );
    // Both kinds of outcome occurred, so the comparison covered refusals as well as decodes.
    expect(outcomes.decoded).toBeGreaterThan(100);
    expect(outcomes.refused).toBeGreaterThan(100);
  });

  it('random bytes: the same tx, or both refuse', () => {
    fc.assert(
      fc.property(bytes(200), (b) => {
        sameAsBitcoinjs(b);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses what bitcoinjs refuses by name: a witness flag with no witness, and bytes after the lock time', () => {
    const tx = new Transaction();
    tx.addInput(new Uint8Array(32).fill(7), 0);
    tx.addOutput(Uint8Array.of(0x51), 1_000n);
    const legacy = tx.toBuffer();
    // The segwit marker and flag, then the inputs and outputs, an empty witness, the lock time.
    const flagged = Buffer.concat([
      legacy.subarray(0, 4),
      Buffer.of(0, 1),
      legacy.subarray(4, -4),
      Buffer.of(0),
      legacy.subarray(-4),
    ]);
    expect(() => Transaction.fromBuffer(flagged)).toThrow(/superfluous witness/);
    expect(() => decodeTransaction(flagged)).toThrow(/superfluous witness/);
    const trailing = Buffer.concat([legacy, Buffer.of(0)]);
    expect(() => Transaction.fromBuffer(trailing)).toThrow(/unexpected data/);
    expect(() => decodeTransaction(trailing)).toThrow(/unexpected data/);
    expect(view(decodeTransaction(legacy))).toEqual(view(tx));
  });

  it('scripts and witness items are views of the bytes, not copies', () => {
    const tx = new Transaction();
    tx.addInput(new Uint8Array(32).fill(7), 0);
    tx.setWitness(0, [Uint8Array.of(1, 2, 3)]);
    tx.addOutput(Uint8Array.of(0x51), 1_000n);
    const b = tx.toBuffer();
    const d = decodeTransaction(b);
    expect(d.ins[0]!.witness[0]!.buffer).toBe(b.buffer);
    expect(d.outs[0]!.script.buffer).toBe(b.buffer);
  });
});

/**
 * A CompactSize must use its shortest form. Bitcoin Core's ReadCompactSize throws
 * "non-canonical ReadCompactSize()", and btcd's ReadVarInt returns errNonCanonicalVarInt for
 * 0xfd with a value < 0xfd, 0xfe with one ≤ 0xffff and 0xff with one ≤ 0xffffffff
 * (btcsuite/btcd wire/common.go ReadVarIntBuf @ 2c67bc29cedf391baf5e2d453855256432bb2006). The
 * reference signer decodes the unbonding tx with btcd, so it refuses these; so do we.
 */
describe('decodeTransaction refuses non-canonical CompactSize encodings', () => {
  /** 0xfd / 0xfe / 0xff followed by `value` in 2 / 4 / 8 little-endian bytes. */
  const wide = (prefix: 0xfd | 0xfe | 0xff, value: number): Buffer => {
    const n = prefix === 0xfd ? 2 : prefix === 0xfe ? 4 : 8;
    const b = Buffer.alloc(1 + n);
    b[0] = prefix;
    b.writeUIntLE(value, 1, Math.min(n, 6));
    return b;
  };
  const splice = (b: Uint8Array, at: number, len: number, by: Uint8Array) =>
    Buffer.concat([b.subarray(0, at), by, b.subarray(at + len)]);

  // version 4 | [00 01] | nIn | hash 32, index 4, scriptSig len, scriptSig, sequence 4 | nOut |
  // value 8, script len, script | [witness: item count, item len, item] | locktime 4
  const tx = new Transaction();
  tx.version = 2;
  tx.addInput(new Uint8Array(32).fill(7), 0, 0xffffffff, Uint8Array.of(0x51, 0x51));
  tx.addOutput(Uint8Array.of(0x51, 0x52, 0x53), 1_000n);
  tx.setWitness(0, [Uint8Array.of(1, 2, 3, 4)]);
  const segwit = tx.toBuffer();
  const slots: Array<[string, number, number]> = [
    ['the input count', 6, 1],
    ['a scriptSig length', 6 + 1 + 36, 2],
    ['the output count', 6 + 1 + 36 + 1 + 2 + 4, 1],
    ['an output script length', 6 + 1 + 36 + 1 + 2 + 4 + 1 + 8, 3],
    ['a witness item count', 6 + 1 + 36 + 1 + 2 + 4 + 1 + 8 + 1 + 3, 1],
    ['a witness item length', 6 + 1 + 36 + 1 + 2 + 4 + 1 + 8 + 1 + 3 + 1, 4],
  ];

  it('reads every slot of the fixture where the table says (the canonical bytes decode)', () => {
    for (const [, at, value] of slots) expect(segwit[at]).toBe(value);
    expect(decodeTransaction(segwit).getId()).toBe(tx.getId());
  });

  const widths: Array<[string, 0xfd | 0xfe | 0xff]> = [
    ['0xfd with a value < 0xfd', 0xfd],
    ['0xfe with a value ≤ 0xffff', 0xfe],
    ['0xff with a value ≤ 0xffffffff', 0xff],
  ];
  for (const [slot, at, value] of slots) {
    it.each(widths)(`refuses %s in ${slot}`, (_w, prefix) => {
      const bad = splice(segwit, at, 1, wide(prefix, value));
      expect(() => Transaction.fromBuffer(bad)).not.toThrow(); // bitcoinjs alone would accept it
      let err: unknown;
      try {
        parseTransaction(bad, 'unbonding_tx_hex');
      } catch (e) {
        err = e;
      }
      expect(isCodedError(err, 'STAKING_TX_NONCANONICAL_VARINT')).toBe(true);
      expect((err as Error).message).toMatch(/^unbonding_tx_hex: non-canonical CompactSize at byte \d+/);
    });
  }

  it('refuses each width at its largest non-canonical value, accepts the smallest canonical one', () => {
    const countAt = 6;
    const withInputs = (n: number) => {
      const t = new Transaction();
      for (let i = 0; i < n; i++) t.addInput(new Uint8Array(32).fill(i & 0xff), i);
      t.addOutput(Uint8Array.of(0x51), 1n);
      return t.toBuffer();
    };
    // 0xfc in three bytes is refused; 0xfd needs three bytes and decodes.
    const b252 = withInputs(0xfc);
    expect(() => decodeTransaction(splice(b252, countAt - 2, 1, wide(0xfd, 0xfc)))).toThrow(/non-canonical/);
    expect(decodeTransaction(withInputs(0xfd)).ins).toHaveLength(0xfd);
    // 0xffff in five bytes is refused (it fits in three).
    const b = withInputs(1);
    expect(() => decodeTransaction(splice(b, countAt - 2, 1, wide(0xfe, 0xffff)))).toThrow(/non-canonical/);
    expect(() => decodeTransaction(splice(b, countAt - 2, 1, wide(0xff, 0xffffffff)))).toThrow(
      /non-canonical/,
    );
  });
});

describe('TxWriter writes as Buffer and bitcoinjs do, byte by byte', () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const i64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
  const size = fc.oneof(
    fc.integer({ min: 0, max: 0xfc }),
    fc.integer({ min: 0xfd, max: 0xffff }),
    fc.integer({ min: 0x10000, max: 0xffffffff }),
    fc.integer({ min: 0x100000000, max: Number.MAX_SAFE_INTEGER }),
  );
  it('u32 and i64 little-endian, every CompactSize width (1, 3, 5, 9 bytes)', () => {
    fc.assert(
      fc.property(u32, i64, size, (a, b, n) => {
        const width = n < 0xfd ? 1 : n <= 0xffff ? 3 : n <= 0xffffffff ? 5 : 9;
        const w = new TxWriter(4 + 8 + width);
        w.u32(a);
        w.i64(b);
        w.compactSize(n);
        const want = Buffer.alloc(4 + 8 + width);
        want.writeUInt32LE(a, 0);
        want.writeBigInt64LE(b, 4);
        if (width === 1) want.writeUInt8(n, 12);
        else if (width === 3) {
          want.writeUInt8(0xfd, 12);
          want.writeUInt16LE(n, 13);
        } else if (width === 5) {
          want.writeUInt8(0xfe, 12);
          want.writeUInt32LE(n, 13);
        } else {
          want.writeUInt8(0xff, 12);
          want.writeBigUInt64LE(BigInt(n), 13);
        }
        expect(Buffer.from(w.bytes)).toEqual(want);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a u32 or an i64 out of range, as Buffer does', () => {
    const w = new TxWriter(8);
    expect(() => w.u32(-1)).toThrow(RangeError);
    expect(() => w.u32(2 ** 32)).toThrow(RangeError);
    expect(() => w.u32(1.5)).toThrow(RangeError);
    expect(() => w.i64(2n ** 63n)).toThrow(RangeError);
    expect(() => w.i64(-(2n ** 63n) - 1n)).toThrow(RangeError);
  });

  it("a hashWriter's bytes start as zeros, whatever the previous one wrote", () => {
    const first = hashWriter(100);
    for (let i = 0; i < 100; i++) first.u8(0xff);
    const second = hashWriter(40);
    expect(second.bytes).toEqual(new Uint8Array(40));
    // Larger than the shared array: a new one, also zeros.
    expect(hashWriter(5000).bytes).toEqual(new Uint8Array(5000));
  });
});
