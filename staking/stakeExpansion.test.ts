import { Transaction } from 'bitcoinjs-lib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CodedError,
  concatBytes,
  ecc,
  parseCompressedKey,
  toHex,
  type XOnlyKey,
  xOnlyOf,
} from '../common/index.ts';
import {
  assertCovenantOverlap,
  assertStakeExpansionTx,
  hasCovenantOverlap,
  parseTxOut,
  type StakeExpansionExpectation,
  serializeTxOut,
  stakeExpansionSighash,
} from './stakeExpansion.ts';
import { buildStakingInfo } from './stakingInfo.ts';

const keyOf = (i: number): XOnlyKey => {
  const sk = new Uint8Array(32);
  sk[31] = i;
  sk[30] = 1;
  return xOnlyOf(parseCompressedKey(ecc.pointFromScalar(sk, true), 'test key', 'TEST_KEY'));
};
const covenantKeys = [1, 2, 3, 4, 5].map(keyOf);
const keys = { stakerKey: keyOf(10), fpKeys: [keyOf(11)], covenantKeys, covenantQuorum: 3 };
const previousInfo = buildStakingInfo(keys, 1000);
const newInfo = buildStakingInfo(keys, 2000);
const p2wpkh = concatBytes(Uint8Array.of(0x00, 0x14), new Uint8Array(20).fill(7));

const previousTx = new Transaction();
previousTx.version = 2;
previousTx.addInput(new Uint8Array(32).fill(1), 0);
previousTx.addOutput(p2wpkh, 5_000n);
previousTx.addOutput(previousInfo.pkScript, 100_000n);
const fundingTx = new Transaction();
fundingTx.version = 2;
fundingTx.addInput(new Uint8Array(32).fill(2), 0);
fundingTx.addOutput(p2wpkh, 50_000n);

function expansionTx(): Transaction {
  const tx = new Transaction();
  tx.version = 2;
  tx.addInput(previousTx.getHash(), 1, 0xffffffff);
  tx.addInput(fundingTx.getHash(), 0, 0xffffffff);
  tx.addOutput(newInfo.pkScript, 100_000n);
  tx.addOutput(p2wpkh, 49_000n);
  return tx;
}
const exp: StakeExpansionExpectation = {
  previousStakingTxid: previousTx.getId(),
  previousStakingOutputIndex: 1,
  previousStakingValueSat: 100_000n,
  otherFundingOutput: { valueSat: 50_000n, pkScript: p2wpkh },
  fundingTxid: fundingTx.getId(),
  newStakingOutputIndex: 0,
};

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof CodedError) return e.code;
    throw e;
  }
  return undefined;
}

describe('assertStakeExpansionTx (msg.go:139-187, msg_server.go:140-208, covenant.go:366-398)', () => {
  it('accepts an expansion that keeps the stake and pays a fee from the funding output', () => {
    expect(() => assertStakeExpansionTx(expansionTx(), exp)).not.toThrow();
    // A larger stake is allowed by the chain (btc-staking-ts 2.x does not build one yet).
    const more = expansionTx();
    more.outs[0]!.value = 120_000n;
    more.outs[1]!.value = 29_000n;
    expect(() => assertStakeExpansionTx(more, exp)).not.toThrow();
    // Without the funding txid (the emulator's request carries only the TxOut) input 1 is not checked.
    const { fundingTxid: _, ...noFunding } = exp;
    const other = expansionTx();
    other.ins[1]!.hash = new Uint8Array(32).fill(3);
    expect(() => assertStakeExpansionTx(other, noFunding)).not.toThrow();
  });

  const cases: Array<[string, string, (tx: Transaction) => StakeExpansionExpectation | undefined]> = [
    [
      'three inputs',
      'STAKING_EXPANSION_INPUT_COUNT',
      (tx) => {
        tx.addInput(new Uint8Array(32).fill(4), 0);
        return undefined;
      },
    ],
    [
      'input 0 from another tx',
      'STAKING_EXPANSION_WRONG_PREVIOUS_TXID',
      (tx) => {
        tx.ins[0]!.hash = new Uint8Array(32).fill(5);
        return undefined;
      },
    ],
    [
      'input 0 at another index (the emulator misses this; the chain checks it)',
      'STAKING_EXPANSION_WRONG_PREVIOUS_INDEX',
      (tx) => {
        tx.ins[0]!.index = 0;
        return undefined;
      },
    ],
    [
      'input 1 not from the funding tx',
      'STAKING_EXPANSION_WRONG_FUNDING_TXID',
      (tx) => {
        tx.ins[1]!.hash = new Uint8Array(32).fill(6);
        return undefined;
      },
    ],
    [
      'a 0-sat funding output',
      'STAKING_EXPANSION_FUNDING_VALUE',
      () => ({
        ...exp,
        otherFundingOutput: { valueSat: 0n, pkScript: p2wpkh },
      }),
    ],
    [
      'a smaller stake',
      'STAKING_EXPANSION_VALUE_DECREASED',
      (tx) => {
        tx.outs[0]!.value = 99_999n;
        return undefined;
      },
    ],
    [
      'outputs equal to the inputs',
      'STAKING_EXPANSION_NO_FEE',
      (tx) => {
        tx.outs[1]!.value = 50_000n;
        return undefined;
      },
    ],
    [
      'a staking output index beyond the outputs',
      'STAKING_INVALID_ARGUMENT',
      () => ({ ...exp, newStakingOutputIndex: 2 }),
    ],
  ];
  it.each(cases)('%s → %s', (_name, code, change) => {
    const tx = expansionTx();
    const e = change(tx) ?? exp;
    expect(codeOf(() => assertStakeExpansionTx(tx, e))).toBe(code);
  });
});

describe('covenant committee overlap (hasSufficientCovenantOverlap, msg_server.go:699-727)', () => {
  it('counts the old members still in the new committee against the old quorum', () => {
    const rotated = [keyOf(3), keyOf(4), keyOf(5), keyOf(6), keyOf(7)];
    expect(hasCovenantOverlap(covenantKeys, rotated, 3)).toBe(true);
    expect(hasCovenantOverlap(covenantKeys, rotated, 4)).toBe(false);
    expect(hasCovenantOverlap(covenantKeys, covenantKeys, 0)).toBe(false);
    expect(hasCovenantOverlap([], covenantKeys, 1)).toBe(false);
    expect(() => assertCovenantOverlap(covenantKeys, rotated, 3)).not.toThrow();
    expect(codeOf(() => assertCovenantOverlap(covenantKeys, rotated, 4))).toBe(
      'STAKING_EXPANSION_COMMITTEE_OVERLAP',
    );
  });
});

describe('stakeExpansionSighash (§5.2)', () => {
  const prevOut = { valueSat: 100_000n, pkScript: previousInfo.pkScript };
  it('is the BIP341 sighash of input 0 over the previous unbonding leaf with both prevouts', () => {
    const tx = expansionTx();
    const ours = stakeExpansionSighash(tx, prevOut, exp.otherFundingOutput, previousInfo.unbonding);
    const direct = tx.hashForWitnessV1(
      0,
      [previousInfo.pkScript, p2wpkh],
      [100_000n, 50_000n],
      Transaction.SIGHASH_DEFAULT,
      previousInfo.unbonding.leafHash,
    );
    expect(toHex(ours)).toBe(toHex(direct));
    // The second prevout is committed to: another funding value is another message.
    const other = stakeExpansionSighash(
      tx,
      prevOut,
      { ...exp.otherFundingOutput, valueSat: 50_001n },
      previousInfo.unbonding,
    );
    expect(toHex(other)).not.toBe(toHex(ours));
  });
  it('STAKING_EXPANSION_INPUT_COUNT: refuses a tx without exactly two inputs', () => {
    const tx = expansionTx();
    tx.ins.pop();
    expect(
      codeOf(() => stakeExpansionSighash(tx, prevOut, exp.otherFundingOutput, previousInfo.unbonding)),
    ).toBe('STAKING_EXPANSION_INPUT_COUNT');
  });
});

describe('parseTxOut (other_funding_output_hex: 8-byte LE value ‖ CompactSize ‖ pkScript)', () => {
  it('round-trips any output', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2_100_000_000_000_000n }),
        fc.uint8Array({ maxLength: 600 }),
        (v, s) => {
          const out = parseTxOut(toHex(serializeTxOut({ valueSat: v, pkScript: s })));
          expect(out.valueSat).toBe(v);
          expect(toHex(out.pkScript)).toBe(toHex(s));
        },
      ),
      { numRuns: 300 },
    );
  });
  it('reads the bytes as btcd writes them', () => {
    const out = parseTxOut(`50c3000000000000160014${'07'.repeat(20)}`);
    expect(out.valueSat).toBe(50_000n);
    expect(toHex(out.pkScript)).toBe(toHex(p2wpkh));
  });
  it.each([
    ['too short', '50c30000000000'],
    ['truncated script', `50c3000000000000160014${'07'.repeat(19)}`],
    ['trailing bytes', `50c3000000000000160014${'07'.repeat(21)}`],
    ['non-canonical length', `50c3000000000000fd1600${'00'.repeat(22)}`],
    ['a 4-byte length', `50c3000000000000fe16000000${'00'.repeat(22)}`],
    ['not hex', 'zz'],
  ])('STAKING_TXOUT_MALFORMED: %s', (_name, hex) => {
    expect(codeOf(() => parseTxOut(hex))).toBe('STAKING_TXOUT_MALFORMED');
  });
});
