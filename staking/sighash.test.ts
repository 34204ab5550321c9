import { Transaction } from 'bitcoinjs-lib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../common/index.ts';
import { taprootSighashDefault } from './sighash.ts';
import { decodeTransaction, MAX_I64, txidOf } from './transaction.ts';

/**
 * staking/'s own BIP341 sighash and txid against bitcoinjs's, on random transactions: the same
 * bytes, and a refusal wherever bitcoinjs refuses.
 */

const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const amount = fc.bigInt({ min: 0n, max: MAX_I64 });
// Lengths around the CompactSize boundaries too (0xfc / 0xfd), where an encoder can go wrong.
const script = fc.oneof(bytes(80), fc.uint8Array({ minLength: 250, maxLength: 260 }));

const txArb = fc
  .record({
    version: u32,
    locktime: u32,
    ins: fc.array(
      fc.record({
        hash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
        index: u32,
        script,
        sequence: u32,
        witness: fc.array(bytes(40), { maxLength: 3 }),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    outs: fc.array(fc.record({ value: amount, script }), { minLength: 1, maxLength: 4 }),
  })
  .map((r) => {
    const tx = new Transaction();
    tx.version = r.version;
    tx.locktime = r.locktime;
    for (const i of r.ins) {
      tx.addInput(i.hash, i.index, i.sequence, i.script);
      tx.ins.at(-1)!.witness = i.witness;
    }
    for (const o of r.outs) tx.addOutput(o.script, o.value);
    return tx;
  });

/** A random tx with the prevouts of each input and an input index (sometimes past the inputs, as bitcoinjs allows). */
const caseArb = txArb.chain((tx) =>
  fc.record({
    tx: fc.constant(tx),
    scripts: fc.array(script, { minLength: tx.ins.length, maxLength: tx.ins.length }),
    values: fc.array(amount, { minLength: tx.ins.length, maxLength: tx.ins.length }),
    inIndex: fc.integer({ min: 0, max: tx.ins.length + 1 }),
    leafHash: fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: undefined }),
  }),
);

function outcome(f: () => Uint8Array): string {
  try {
    return toHex(f());
  } catch {
    return 'throws';
  }
}

describe('taprootSighashDefault', () => {
  it('equals bitcoinjs hashForWitnessV1 with SIGHASH_DEFAULT, script path and key path', () => {
    fc.assert(
      fc.property(caseArb, ({ tx, scripts, values, inIndex, leafHash }) => {
        const ours = taprootSighashDefault(tx, inIndex, scripts, values, leafHash);
        const theirs = tx.hashForWitnessV1(inIndex, scripts, values, Transaction.SIGHASH_DEFAULT, leafHash);
        expect(toHex(ours)).toBe(toHex(theirs));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses where bitcoinjs refuses: prevouts not one per input, amounts out of range, no output', () => {
    fc.assert(
      fc.property(
        caseArb,
        fc.constantFrom(
          'fewer scripts',
          'more values',
          'negative value',
          'too large value',
          'no output',
          'bad index',
        ),
        ({ tx, scripts, values, inIndex, leafHash }, change) => {
          let s = scripts;
          let v = values;
          let i = inIndex;
          if (change === 'fewer scripts') s = scripts.slice(1);
          if (change === 'more values') v = [...values, 1n];
          if (change === 'negative value') v = [-1n, ...values.slice(1)];
          if (change === 'too large value') v = [MAX_I64 + 1n, ...values.slice(1)];
          if (change === 'no output') tx.outs = [];
          if (change === 'bad index') i = -1;
          const ours = outcome(() => taprootSighashDefault(tx, i, s, v, leafHash));
          const theirs = outcome(() => tx.hashForWitnessV1(i, s, v, Transaction.SIGHASH_DEFAULT, leafHash));
          expect(ours).toBe('throws');
          expect(theirs).toBe('throws');
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('txidOf', () => {
  it('equals bitcoinjs getId, with and without witnesses, built or decoded', () => {
    fc.assert(
      fc.property(txArb, (tx) => {
        expect(txidOf(tx)).toBe(tx.getId());
        const decoded = decodeTransaction(tx.toBuffer());
        expect(txidOf(decoded)).toBe(tx.getId());
      }),
      { numRuns: 300 },
    );
  });
});
