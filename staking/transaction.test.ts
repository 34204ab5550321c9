import { Transaction } from 'bitcoinjs-lib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeTransaction } from './index.ts';

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
