import { Transaction } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import { compareBytes, concatBytes, isCodedError, toHex } from '../common/index.ts';
import { parseGlobalParams } from '../params/index.ts';
import { withStakingValue } from '../test/expectationCopy.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import {
  assertUnbondingTx,
  buildStakingOutputs,
  buildTimelockWithdrawTx,
  buildTimelockWitness,
  buildUnbondingTx,
  buildUnbondingWitness,
  classifyStakingOutputSpend,
  expectUnbonding,
  isUnbondingTimelockWithdraw,
  parseStakingTx,
  parseTransaction,
  scriptPathSighash,
  unbondingSighash,
  verifyStakerUnbondingSignature,
} from './index.ts';

const covenants = ['c1', 'c2', 'c3'].map(testKey);
const staker = testKey('staker');
const fp = testKey('fp');
const params = parseGlobalParams(testParamsDoc(covenants));
const v0 = params.versions[0]!;

const outs = buildStakingOutputs({
  params: v0,
  stakerKey: staker.xOnly,
  fpKey: fp.xOnly,
  stakingTime: 100,
  valueSat: 50_000n,
});
const stakingTx = new Transaction();
stakingTx.version = 2;
stakingTx.addInput(new Uint8Array(32).fill(3), 1);
stakingTx.addOutput(outs.opReturnOutput.script, 0n);
stakingTx.addOutput(outs.stakingOutput.script, outs.stakingOutput.valueSat);
const data = parseStakingTx(stakingTx, v0);
const exp = expectUnbonding(stakingTx.getId(), data, v0);

const codeOf = (fn: () => void): string => {
  try {
    fn();
    return 'ACCEPTED';
  } catch (e) {
    if (isCodedError(e)) return e.code;
    throw e;
  }
};

describe('unbonding tx build and strict check (staking-protocol.md §5)', () => {
  it('builds exactly the expected tx: v2, one final input on the staking output, value − fee', () => {
    const tx = buildUnbondingTx(exp);
    expect(tx.version).toBe(2);
    expect(tx.locktime).toBe(0);
    expect(tx.ins[0]!.sequence).toBe(0xffffffff);
    expect(tx.ins[0]!.index).toBe(1);
    expect(tx.outs[0]!.value).toBe(49_000n);
    expect(codeOf(() => assertUnbondingTx(tx, exp))).toBe('ACCEPTED');
  });

  const mutations: Array<[string, (tx: Transaction) => void, string]> = [
    [
      'a second input',
      (tx) => tx.addInput(new Uint8Array(32), 0, 0xffffffff),
      'STAKING_UNBONDING_INPUT_COUNT',
    ],
    ['a second output', (tx) => tx.addOutput(tx.outs[0]!.script, 1n), 'STAKING_UNBONDING_OUTPUT_COUNT'],
    [
      'version 1',
      (tx) => {
        tx.version = 1;
      },
      'STAKING_UNBONDING_VERSION',
    ],
    [
      'version 3',
      (tx) => {
        tx.version = 3;
      },
      'STAKING_UNBONDING_VERSION',
    ],
    [
      'lock time 1',
      (tx) => {
        tx.locktime = 1;
      },
      'STAKING_UNBONDING_LOCKTIME',
    ],
    [
      'a replaceable sequence',
      (tx) => {
        tx.ins[0]!.sequence = 0xfffffffd;
      },
      'STAKING_UNBONDING_SEQUENCE',
    ],
    [
      'a scriptSig',
      (tx) => {
        tx.ins[0]!.script = Uint8Array.of(0x51);
      },
      'STAKING_UNBONDING_SCRIPTSIG',
    ],
    [
      'a huge witness',
      (tx) => {
        tx.ins[0]!.witness = [new Uint8Array(10_000)];
      },
      'STAKING_UNBONDING_TOO_HEAVY',
    ],
    [
      'another output index',
      (tx) => {
        tx.ins[0]!.index = 0;
      },
      'STAKING_UNBONDING_WRONG_INPUT',
    ],
    [
      'another txid',
      (tx) => {
        tx.ins[0]!.hash = new Uint8Array(32).fill(9);
      },
      'STAKING_UNBONDING_WRONG_INPUT',
    ],
    [
      'another output script',
      (tx) => {
        tx.outs[0]!.script = outs.stakingOutput.script;
      },
      'STAKING_UNBONDING_WRONG_OUTPUT_SCRIPT',
    ],
    [
      'one sat more fee',
      (tx) => {
        tx.outs[0]!.value -= 1n;
      },
      'STAKING_UNBONDING_WRONG_VALUE',
    ],
    [
      'one sat less fee',
      (tx) => {
        tx.outs[0]!.value += 1n;
      },
      'STAKING_UNBONDING_WRONG_VALUE',
    ],
  ];
  it.each(mutations)('refuses an unbonding tx with %s', (_n, mutate, code) => {
    const tx = buildUnbondingTx(exp);
    mutate(tx);
    expect(codeOf(() => assertUnbondingTx(tx, exp))).toBe(code);
  });

  it('refuses a staking value that does not cover the fee', () => {
    expect(codeOf(() => expectUnbonding(exp.stakingTxid, { ...data, valueSat: 1_000n }, v0))).toBe(
      'STAKING_UNBONDING_VALUE_TOO_LOW',
    );
  });
});

describe('staker signature over the unbonding leaf (BIP341, SIGHASH_DEFAULT)', () => {
  const tx = buildUnbondingTx(exp);
  const sighash = unbondingSighash(tx, exp);
  const sig = staker.sign(sighash);

  it('accepts the staker signature', () => {
    expect(verifyStakerUnbondingSignature(tx, exp, staker.xOnly, sig)).toBe(true);
  });
  it('refuses a signature by another key', () => {
    expect(verifyStakerUnbondingSignature(tx, exp, staker.xOnly, fp.sign(sighash))).toBe(false);
  });
  it('refuses a 65-byte signature with an explicit sighash byte', () => {
    expect(verifyStakerUnbondingSignature(tx, exp, staker.xOnly, concatBytes(sig, Uint8Array.of(0)))).toBe(
      false,
    );
  });
  it('refuses a signature over another amount (the sighash commits to the staking value)', () => {
    const other = withStakingValue(exp, exp.stakingValueSat + 1n);
    expect(verifyStakerUnbondingSignature(tx, other, staker.xOnly, sig)).toBe(false);
  });
  it('refuses a signature made over the timelock leaf instead', () => {
    const wrong = scriptPathSighash(
      tx,
      0,
      { pkScripts: [exp.stakingPkScript], valuesSat: [exp.stakingValueSat] },
      data.stakingInfo.timelock,
    );
    expect(verifyStakerUnbondingSignature(tx, exp, staker.xOnly, staker.sign(wrong))).toBe(false);
  });
  it('never throws on garbage', () => {
    expect(verifyStakerUnbondingSignature(tx, exp, staker.xOnly, new Uint8Array(64).fill(0xff))).toBe(false);
    expect(verifyStakerUnbondingSignature(tx, exp, staker.xOnly, new Uint8Array(0))).toBe(false);
  });
});

describe('unbonding witness assembly (§2.4)', () => {
  const tx = buildUnbondingTx(exp);
  const sighash = unbondingSighash(tx, exp);
  const sigs = covenants.map((k) => ({ key: k.xOnly, signature: k.sign(sighash) }));
  const stakerSig = staker.sign(sighash);
  const leaf = data.stakingInfo.unbonding;
  const descending = [...covenants].sort((a, b) => compareBytes(b.xOnly, a.xOnly));

  it('puts exactly quorum signatures in descending key order, empty slots for the rest', () => {
    const w = buildUnbondingWitness({
      covenantKeys: v0.covenantKeys,
      quorum: 2,
      covenantSignatures: [sigs[2]!, sigs[0]!],
      stakerSignature: stakerSig,
      leaf,
    });
    expect(w).toHaveLength(3 + 3);
    const expected = descending.map((k) =>
      k === covenants[1] ? '' : toHex(sigs[covenants.indexOf(k)]!.signature),
    );
    expect(w.slice(0, 3).map(toHex)).toEqual(expected);
    expect(toHex(w[3]!)).toBe(toHex(stakerSig));
    expect(toHex(w[4]!)).toBe(toHex(leaf.script));
    expect(toHex(w[5]!)).toBe(toHex(leaf.controlBlock));
  });

  it('keeps only the first quorum signatures when more are given', () => {
    const w = buildUnbondingWitness({
      covenantKeys: v0.covenantKeys,
      quorum: 2,
      covenantSignatures: sigs,
      stakerSignature: stakerSig,
      leaf,
    });
    expect(w.slice(0, 3).filter((x) => x.length > 0)).toHaveLength(2);
    expect(w.slice(0, 3).some((x) => toHex(x) === toHex(sigs[2]!.signature))).toBe(false);
  });

  it.each([
    ['fewer signatures than the quorum', [sigs[0]!], 'STAKING_QUORUM_NOT_MET'],
    [
      'a signature for a key outside the covenant set',
      [sigs[0]!, { key: fp.xOnly, signature: sigs[1]!.signature }],
      'STAKING_WITNESS_UNKNOWN_KEY',
    ],
    ['two signatures for one key', [sigs[0]!, sigs[0]!], 'STAKING_WITNESS_DUPLICATE_KEY'],
    [
      'a 65-byte signature',
      [sigs[0]!, { key: sigs[1]!.key, signature: new Uint8Array(65) }],
      'STAKING_INVALID_SIGNATURE',
    ],
  ])('refuses %s', (_n, given, code) => {
    expect(
      codeOf(() =>
        buildUnbondingWitness({
          covenantKeys: v0.covenantKeys,
          quorum: 2,
          covenantSignatures: given,
          stakerSignature: stakerSig,
          leaf,
        }),
      ),
    ).toBe(code);
  });
});

describe('spends of the staking and unbonding outputs (§5.4, §6)', () => {
  const unbondingTx = buildUnbondingTx(exp);
  const sighash = unbondingSighash(unbondingTx, exp);
  unbondingTx.ins[0]!.witness = buildUnbondingWitness({
    covenantKeys: v0.covenantKeys,
    quorum: 2,
    covenantSignatures: covenants.slice(0, 2).map((k) => ({ key: k.xOnly, signature: k.sign(sighash) })),
    stakerSignature: staker.sign(sighash),
    leaf: data.stakingInfo.unbonding,
  });
  const payout = concatBytes(Uint8Array.of(0x00, 0x14), new Uint8Array(20).fill(1));

  it('recognises a valid unbonding tx', () => {
    expect(classifyStakingOutputSpend(unbondingTx, 0, exp, data.stakingInfo.timelock)).toEqual({
      kind: 'unbonding',
    });
  });

  it('flags an unbonding-leaf spend with the wrong fee as an invalid unbonding', () => {
    const tx = parseTransaction(unbondingTx.toHex());
    tx.outs[0]!.value -= 10n;
    expect(classifyStakingOutputSpend(tx, 0, exp, data.stakingInfo.timelock)).toMatchObject({
      kind: 'invalid-unbonding',
      code: 'STAKING_UNBONDING_WRONG_VALUE',
    });
  });

  it('flags an unbonding-leaf spend with a replaceable sequence as an invalid unbonding', () => {
    const tx = parseTransaction(unbondingTx.toHex());
    tx.ins[0]!.sequence = 0;
    expect(classifyStakingOutputSpend(tx, 0, exp, data.stakingInfo.timelock)).toMatchObject({
      kind: 'invalid-unbonding',
      code: 'STAKING_UNBONDING_SEQUENCE',
    });
  });

  it('recognises a withdraw through the staking timelock leaf', () => {
    const tx = buildTimelockWithdrawTx({
      prevTxid: exp.stakingTxid,
      prevVout: 1,
      timelockBlocks: 100,
      prevValueSat: 50_000n,
      feeSat: 500n,
      outputScript: payout,
    });
    const h = scriptPathSighash(
      tx,
      0,
      { pkScripts: [exp.stakingPkScript], valuesSat: [50_000n] },
      data.stakingInfo.timelock,
    );
    tx.ins[0]!.witness = buildTimelockWitness(staker.sign(h), data.stakingInfo.timelock);
    expect(tx.ins[0]!.sequence).toBe(100);
    expect(classifyStakingOutputSpend(tx, 0, exp, data.stakingInfo.timelock)).toEqual({ kind: 'withdraw' });
  });

  it('calls a slashing-leaf spend an unknown spend', () => {
    const tx = buildTimelockWithdrawTx({
      prevTxid: exp.stakingTxid,
      prevVout: 1,
      timelockBlocks: 1,
      prevValueSat: 50_000n,
      feeSat: 500n,
      outputScript: payout,
    });
    tx.ins[0]!.witness = [
      new Uint8Array(64),
      data.stakingInfo.slashing.script,
      data.stakingInfo.slashing.controlBlock,
    ];
    expect(classifyStakingOutputSpend(tx, 0, exp, data.stakingInfo.timelock)).toEqual({
      kind: 'unknown-spend',
    });
  });

  it('recognises a withdraw from the unbonding output through its timelock leaf', () => {
    const tx = buildTimelockWithdrawTx({
      prevTxid: unbondingTx.getId(),
      prevVout: 0,
      timelockBlocks: 3,
      prevValueSat: 49_000n,
      feeSat: 500n,
      outputScript: payout,
    });
    tx.ins[0]!.witness = [
      new Uint8Array(64),
      exp.unbondingInfo.timelock.script,
      exp.unbondingInfo.timelock.controlBlock,
    ];
    expect(isUnbondingTimelockWithdraw(tx, 0, exp.unbondingInfo.timelock)).toBe(true);
    tx.ins[0]!.witness = [
      new Uint8Array(64),
      exp.unbondingInfo.slashing.script,
      exp.unbondingInfo.slashing.controlBlock,
    ];
    expect(isUnbondingTimelockWithdraw(tx, 0, exp.unbondingInfo.timelock)).toBe(false);
  });
});
