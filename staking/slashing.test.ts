import type { Transaction } from 'bitcoinjs-lib';
import { expect, it } from 'vitest';
import { CodedError, parseXOnlyKey, toHex, type XOnlyKey } from '../common/index.ts';
import { parsePhase2ParamsVersion } from '../params/index.ts';
import { describeVectors, readVector } from '../test/infra/vectors.ts';
import { babylonEncryptionKey, verifyAdaptorSignature } from './adaptor.ts';
import {
  assertSlashingTxMatchesFundingTx,
  buildSlashingChangeOutput,
  buildSlashingTx,
  fundingOutputOf,
  type SlashingParams,
  slashingSighash,
} from './slashing.ts';
import { buildStakingInfo, buildUnbondingInfo } from './stakingInfo.ts';
import { parseTransaction } from './transaction.ts';

/*
 * The worked example of phase2-covenant.md §1.7: a real testnet delegation and the /params
 * response of its version, embedded in Babylon's TestOldFormatCompat
 * (babylonlabs-io/babylon@e65c3a5:crypto/schnorr-adaptor-signature/types_test.go:18-176), read in
 * place from ../shared/vectors/adaptor-signature/legacy66-testnet-source.json, with the 12
 * covenant adaptor signatures of legacy66-testnet.json.
 */
interface DelegationSource {
  btcDelegationJSON: {
    btc_pk: string;
    fp_btc_pk_list: string[];
    staking_time: number;
    staking_tx_hex: string;
    slashing_tx_hex: string;
    staking_output_idx: number;
    unbonding_time: number;
    undelegation_response: { unbonding_tx_hex: string; slashing_tx_hex: string };
  };
  paramsJSON: Record<string, unknown>;
}

const key = (hex: string): XOnlyKey => parseXOnlyKey(hex, 'key', 'STAKING_INVALID_KEY');

function loadRealDelegation() {
  const source = JSON.parse(readVector('adaptor-signature/legacy66-testnet-source.json')) as DelegationSource;
  const legacy = (
    JSON.parse(readVector('adaptor-signature/legacy66-testnet.json')) as {
      rows: { path: string; pk: string; ek: string; msg: string; sig66: string }[];
    }
  ).rows;
  const del = source.btcDelegationJSON;
  const params = parsePhase2ParamsVersion(source.paramsJSON, 6);
  const stakerKey = key(del.btc_pk);
  const scriptKeys = {
    stakerKey,
    fpKeys: [key(del.fp_btc_pk_list[0]!)],
    covenantKeys: params.covenantKeys,
    covenantQuorum: params.covenantQuorum,
  };
  return {
    legacy,
    del,
    params,
    stakerKey,
    stakingTx: parseTransaction(del.staking_tx_hex),
    slashingTx: parseTransaction(del.slashing_tx_hex),
    unbondingTx: parseTransaction(del.undelegation_response.unbonding_tx_hex),
    unbondingSlashingTx: parseTransaction(del.undelegation_response.slashing_tx_hex),
    stakingInfo: buildStakingInfo(scriptKeys, del.staking_time),
    unbondingInfo: buildUnbondingInfo(scriptKeys, params.unbondingTimeBlocks),
  };
}
let loaded: ReturnType<typeof loadRealDelegation> | undefined;
/** Loaded once, and only inside describeVectors, so only where ../shared/vectors is there. */
const realDelegation = () => (loaded ??= loadRealDelegation());

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof CodedError) return e.code;
    throw e;
  }
  return undefined;
}

describeVectors('the real testnet delegation (phase2-covenant.md §1.7)', () => {
  const {
    del,
    params,
    stakerKey,
    stakingTx,
    slashingTx,
    unbondingTx,
    unbondingSlashingTx,
    stakingInfo,
    unbondingInfo,
    legacy,
  } = realDelegation();
  it('our staking and unbonding trees are the ones the txs pay', () => {
    expect(toHex(stakingTx.outs[del.staking_output_idx]!.script)).toBe(toHex(stakingInfo.pkScript));
    expect(toHex(unbondingTx.outs[0]!.script)).toBe(toHex(unbondingInfo.pkScript));
  });

  it('both slashing txs pass the full check (S1-S18)', () => {
    expect(() =>
      assertSlashingTxMatchesFundingTx(slashingTx, stakingTx, del.staking_output_idx, stakerKey, params),
    ).not.toThrow();
    expect(() =>
      assertSlashingTxMatchesFundingTx(unbondingSlashingTx, unbondingTx, 0, stakerKey, params),
    ).not.toThrow();
  });

  it('both change outputs pay the same single-leaf taproot with the unbonding time (§1.4)', () => {
    const change = buildSlashingChangeOutput(stakerKey, del.unbonding_time);
    expect(toHex(change.pkScript)).toBe(toHex(slashingTx.outs[1]!.script));
    expect(toHex(change.pkScript)).toBe(toHex(unbondingSlashingTx.outs[1]!.script));
    expect(toHex(change.pkScript).startsWith('5120551533c5')).toBe(true);
  });

  it('buildSlashingTx reproduces both real slashing txs byte for byte (2500 + 41500, 2400 + 39600)', () => {
    const built = buildSlashingTx({ funding: fundingOutputOf(stakingTx, 0), stakerKey, params });
    expect(built.toHex()).toBe(del.slashing_tx_hex);
    expect(built.outs.map((o) => o.value)).toEqual([2500n, 41500n]);
    const builtU = buildSlashingTx({ funding: fundingOutputOf(unbondingTx, 0), stakerKey, params });
    expect(builtU.toHex()).toBe(del.undelegation_response.slashing_tx_hex);
    expect(builtU.outs.map((o) => o.value)).toEqual([2400n, 39600n]);
  });

  it('slashingSighash gives the messages the 12 real covenant adaptor signatures verify against', () => {
    const msgStaking = slashingSighash(slashingTx, stakingTx, 0, stakingInfo.slashing);
    const msgUnbonding = slashingSighash(unbondingSlashingTx, unbondingTx, 0, unbondingInfo.slashing);
    expect(legacy).toHaveLength(12);
    for (const row of legacy) {
      const msg = row.path === 'staking slashing' ? msgStaking : msgUnbonding;
      expect(toHex(msg)).toBe(row.msg);
      const ek = babylonEncryptionKey(Uint8Array.from(Buffer.from(row.ek, 'hex')));
      expect(
        verifyAdaptorSignature(
          Uint8Array.from(Buffer.from(row.pk, 'hex')),
          msg,
          ek,
          Buffer.from(row.sig66, 'hex'),
        ),
      ).toBe(true);
    }
  });

  it('a version-1 slashing tx is accepted too (Go builds version 1, S7)', () => {
    const v1 = buildSlashingTx({ funding: fundingOutputOf(stakingTx, 0), stakerKey, params, version: 1 });
    expect(v1.version).toBe(1);
    expect(() => assertSlashingTxMatchesFundingTx(v1, stakingTx, 0, stakerKey, params)).not.toThrow();
  });

  it('a higher fee and a larger slashing output are accepted (S10 and S16 are minimums)', () => {
    const tx = slashingTx.clone();
    tx.outs[0]!.value += 100n;
    tx.outs[1]!.value -= 1000n;
    expect(() => assertSlashingTxMatchesFundingTx(tx, stakingTx, 0, stakerKey, params)).not.toThrow();
  });
});

describeVectors('each rule of CheckSlashingTxMatchFundingTx has its code (§1.2)', () => {
  const { params, stakerKey, stakingTx, slashingTx, unbondingTx, stakingInfo } = realDelegation();
  const mutate = (f: (tx: Transaction) => void): Transaction => {
    const tx = slashingTx.clone();
    f(tx);
    return tx;
  };
  const check = (tx: Transaction, funding = stakingTx, idx = 0, p: SlashingParams = params) =>
    codeOf(() => assertSlashingTxMatchesFundingTx(tx, funding, idx, stakerKey, p));

  const fundingMutated = (f: (tx: Transaction) => void): Transaction => {
    const tx = stakingTx.clone();
    f(tx);
    return tx;
  };

  it('S1 STAKING_SLASHING_FUNDING_TX_INSANE: a funding tx with a negative output', () => {
    expect(
      check(
        slashingTx,
        fundingMutated((tx) => {
          tx.outs[1]!.value = -1n;
        }),
      ),
    ).toBe('STAKING_SLASHING_FUNDING_TX_INSANE');
    expect(
      check(
        slashingTx,
        fundingMutated((tx) => {
          tx.ins.push({ ...tx.ins[0]! });
        }),
      ),
    ).toBe('STAKING_SLASHING_FUNDING_TX_INSANE');
  });
  it('S2 STAKING_SLASHING_MIN_FEE_INVALID and STAKING_SLASHING_RATE_INVALID', () => {
    expect(check(slashingTx, stakingTx, 0, { ...params, minSlashingTxFeeSat: 0n })).toBe(
      'STAKING_SLASHING_MIN_FEE_INVALID',
    );
    const badRate = { ...params.slashingRate, decimal: '0.00005' };
    expect(check(slashingTx, stakingTx, 0, { ...params, slashingRate: badRate })).toBe(
      'STAKING_SLASHING_RATE_INVALID',
    );
    const inconsistent = { ...params.slashingRate, float64: 0.5 };
    expect(check(slashingTx, stakingTx, 0, { ...params, slashingRate: inconsistent })).toBe(
      'STAKING_SLASHING_RATE_INVALID',
    );
  });
  it('S3 STAKING_SLASHING_FUNDING_INDEX', () =>
    expect(check(slashingTx, stakingTx, 2)).toBe('STAKING_SLASHING_FUNDING_INDEX'));
  it('S4 STAKING_SLASHING_TX_INSANE: an output above 21e14 sat, a null prevout', () => {
    expect(
      check(
        mutate((tx) => {
          tx.outs[0]!.value = 2_100_000_000_000_001n;
        }),
      ),
    ).toBe('STAKING_SLASHING_TX_INSANE');
    expect(
      check(
        mutate((tx) => {
          tx.ins.push({ ...tx.ins[0]!, hash: new Uint8Array(32), index: 0xffffffff });
        }),
      ),
    ).toBe('STAKING_SLASHING_TX_INSANE');
  });
  it('S5 STAKING_SLASHING_INPUT_COUNT, STAKING_SLASHING_OUTPUT_COUNT', () => {
    expect(
      check(
        mutate((tx) => {
          tx.ins.push({ ...tx.ins[0]!, index: 7 });
        }),
      ),
    ).toBe('STAKING_SLASHING_INPUT_COUNT');
    expect(
      check(
        mutate((tx) => {
          tx.outs.pop();
        }),
      ),
    ).toBe('STAKING_SLASHING_OUTPUT_COUNT');
  });
  it('S6 STAKING_SLASHING_LOCKTIME', () =>
    expect(
      check(
        mutate((tx) => {
          tx.locktime = 1;
        }),
      ),
    ).toBe('STAKING_SLASHING_LOCKTIME'));
  it('S7 STAKING_SLASHING_VERSION', () => {
    expect(
      check(
        mutate((tx) => {
          tx.version = 3;
        }),
      ),
    ).toBe('STAKING_SLASHING_VERSION');
    expect(
      check(
        mutate((tx) => {
          tx.version = 0;
        }),
      ),
    ).toBe('STAKING_SLASHING_VERSION');
  });
  it('S8 STAKING_SLASHING_TOO_HEAVY: a witness beyond 400,000 weight units', () => {
    expect(
      check(
        mutate((tx) => {
          tx.ins[0]!.witness = [new Uint8Array(400_000)];
        }),
      ),
    ).toBe('STAKING_SLASHING_TOO_HEAVY');
  });
  it('S9 STAKING_SLASHING_SEQUENCE, STAKING_SLASHING_SCRIPTSIG', () => {
    expect(
      check(
        mutate((tx) => {
          tx.ins[0]!.sequence = 0xfffffffd;
        }),
      ),
    ).toBe('STAKING_SLASHING_SEQUENCE');
    expect(
      check(
        mutate((tx) => {
          tx.ins[0]!.script = Uint8Array.of(0x51);
        }),
      ),
    ).toBe('STAKING_SLASHING_SCRIPTSIG');
  });
  it('S10 STAKING_SLASHING_AMOUNT_TOO_LOW: one sat below round(50000 × 0.05)', () => {
    expect(
      check(
        mutate((tx) => {
          tx.outs[0]!.value = 2499n;
          tx.outs[1]!.value += 1n;
        }),
      ),
    ).toBe('STAKING_SLASHING_AMOUNT_TOO_LOW');
  });
  it('S11 STAKING_SLASHING_WRONG_SLASHING_SCRIPT', () => {
    expect(
      check(
        mutate((tx) => {
          tx.outs[0]!.script = tx.outs[1]!.script;
        }),
      ),
    ).toBe('STAKING_SLASHING_WRONG_SLASHING_SCRIPT');
  });
  it('S12 STAKING_SLASHING_WRONG_CHANGE_SCRIPT: another time lock, another staker', () => {
    expect(check(slashingTx, stakingTx, 0, { ...params, unbondingTimeBlocks: 1009 })).toBe(
      'STAKING_SLASHING_WRONG_CHANGE_SCRIPT',
    );
    expect(
      check(
        mutate((tx) => {
          tx.outs[1]!.script = stakingInfo.pkScript;
        }),
      ),
    ).toBe('STAKING_SLASHING_WRONG_CHANGE_SCRIPT');
  });
  it('S13 STAKING_SLASHING_DUST_OUTPUT: a 329-sat P2TR change', () => {
    expect(
      check(
        mutate((tx) => {
          tx.outs[1]!.value = 329n;
        }),
      ),
    ).toBe('STAKING_SLASHING_DUST_OUTPUT');
  });
  const opReturnParams: SlashingParams = {
    ...params,
    slashingPkScript: Uint8Array.of(0x6a, 0x00),
    slashingRate: { decimal: '0.0001', basisPoints: 1, float64: 0.0001 },
    minSlashingTxFeeSat: 1n,
  };
  const tinyFunding = (value: bigint): Transaction =>
    fundingMutated((tx) => {
      tx.outs[0]!.value = value;
    });
  const opReturnSlash = (funding: Transaction, change: bigint): Transaction =>
    mutate((tx) => {
      tx.ins[0]!.hash = funding.getHash();
      tx.outs[0] = { script: Uint8Array.of(0x6a, 0x00), value: 0n };
      tx.outs[1]!.value = change;
    });
  it('S14 STAKING_SLASHING_ZERO_VALUE: a 0-sat OP_RETURN slashing output (round(400 × 0.0001) = 0)', () => {
    const funding = tinyFunding(400n);
    expect(check(opReturnSlash(funding, 330n), funding, 0, opReturnParams)).toBe(
      'STAKING_SLASHING_ZERO_VALUE',
    );
  });
  it('S15 STAKING_SLASHING_OVERSPEND: outputs summing to the funding value', () => {
    expect(
      check(
        mutate((tx) => {
          tx.outs[1]!.value = 47500n;
        }),
      ),
    ).toBe('STAKING_SLASHING_OVERSPEND');
  });
  it('S16 STAKING_SLASHING_FEE_TOO_LOW: a fee of 5999 sat', () => {
    expect(
      check(
        mutate((tx) => {
          tx.outs[1]!.value += 1n;
        }),
      ),
    ).toBe('STAKING_SLASHING_FEE_TOO_LOW');
  });
  it('S17 STAKING_SLASHING_WRONG_INPUT_TXID, S18 STAKING_SLASHING_WRONG_INPUT_INDEX', () => {
    expect(
      check(
        mutate((tx) => {
          tx.ins[0]!.hash = new Uint8Array(32).fill(9);
        }),
      ),
    ).toBe('STAKING_SLASHING_WRONG_INPUT_TXID');
    expect(
      check(
        mutate((tx) => {
          tx.ins[0]!.index = 1;
        }),
      ),
    ).toBe('STAKING_SLASHING_WRONG_INPUT_INDEX');
  });
  it('the staking slashing tx fails against the unbonding tx (48000 − 44000 = a 4000-sat fee)', () => {
    expect(check(slashingTx, unbondingTx, 0)).toBe('STAKING_SLASHING_FEE_TOO_LOW');
  });
});

describeVectors('buildSlashingTx refusals', () => {
  const { params, stakerKey, stakingTx } = realDelegation();
  const funding = fundingOutputOf(stakingTx, 0);
  it('STAKING_SLASHING_FUNDING_NOT_TAPROOT', () => {
    expect(
      codeOf(() =>
        buildSlashingTx({ funding: { ...funding, pkScript: params.slashingPkScript }, stakerKey, params }),
      ),
    ).toBe('STAKING_SLASHING_FUNDING_NOT_TAPROOT');
  });
  it('STAKING_SLASHING_AMOUNT_NOT_POSITIVE: round(4 × 0.05) = 0', () => {
    expect(codeOf(() => buildSlashingTx({ funding: { ...funding, valueSat: 4n }, stakerKey, params }))).toBe(
      'STAKING_SLASHING_AMOUNT_NOT_POSITIVE',
    );
  });
  it('STAKING_SLASHING_CHANGE_NOT_POSITIVE: 6300 sat cannot pay 315 + 6000 and change', () => {
    expect(
      codeOf(() => buildSlashingTx({ funding: { ...funding, valueSat: 6300n }, stakerKey, params })),
    ).toBe('STAKING_SLASHING_CHANGE_NOT_POSITIVE');
  });
  it('STAKING_SLASHING_DUST_OUTPUT: a 300-sat change, a 293-sat P2WPKH slashing output', () => {
    expect(
      codeOf(() => buildSlashingTx({ funding: { ...funding, valueSat: 6616n }, stakerKey, params })),
    ).toBe('STAKING_SLASHING_DUST_OUTPUT');
    // round(5860 × 0.05) = 293 sat to the P2WPKH slashing script (dust below 294), with a 1-sat fee.
    const lowFee = { ...params, minSlashingTxFeeSat: 1n };
    expect(
      codeOf(() => buildSlashingTx({ funding: { ...funding, valueSat: 5860n }, stakerKey, params: lowFee })),
    ).toBe('STAKING_SLASHING_DUST_OUTPUT');
  });
  it('STAKING_SLASHING_FEE_TOO_LOW: a fee below the minimum', () => {
    expect(codeOf(() => buildSlashingTx({ funding, stakerKey, params, feeSat: 5999n }))).toBe(
      'STAKING_SLASHING_FEE_TOO_LOW',
    );
  });
  it('STAKING_INVALID_ARGUMENT: a zero funding value', () => {
    expect(codeOf(() => buildSlashingTx({ funding: { ...funding, valueSat: 0n }, stakerKey, params }))).toBe(
      'STAKING_INVALID_ARGUMENT',
    );
  });
});

describeVectors('slashingSighash guards (checkTxBeforeSigning, staking.go:719-743)', () => {
  const { stakingTx, slashingTx, unbondingTx, stakingInfo } = realDelegation();
  it('refuses two inputs, an index beyond the funding tx, an input spending another output', () => {
    const two = slashingTx.clone();
    two.ins.push({ ...two.ins[0]!, index: 1 });
    expect(codeOf(() => slashingSighash(two, stakingTx, 0, stakingInfo.slashing))).toBe(
      'STAKING_SLASHING_INPUT_COUNT',
    );
    expect(codeOf(() => slashingSighash(slashingTx, stakingTx, 5, stakingInfo.slashing))).toBe(
      'STAKING_SLASHING_FUNDING_INDEX',
    );
    expect(codeOf(() => slashingSighash(slashingTx, stakingTx, 1, stakingInfo.slashing))).toBe(
      'STAKING_SLASHING_WRONG_INPUT_INDEX',
    );
    expect(codeOf(() => slashingSighash(slashingTx, unbondingTx, 0, stakingInfo.slashing))).toBe(
      'STAKING_SLASHING_WRONG_INPUT_TXID',
    );
  });
});

describeVectors('robustness', () => {
  const { del, params, stakerKey, stakingTx } = realDelegation();
  it('any byte mutation of the real slashing tx is either accepted or refused with a coded error', () => {
    const bytes = Buffer.from(del.slashing_tx_hex, 'hex');
    let refused = 0;
    for (let at = 0; at < bytes.length; at++) {
      for (const xor of [0x01, 0x80, 0xff]) {
        const m = Uint8Array.from(bytes);
        m[at] = m[at]! ^ xor;
        try {
          assertSlashingTxMatchesFundingTx(parseTransaction(m), stakingTx, 0, stakerKey, params);
        } catch (e) {
          expect(e).toBeInstanceOf(CodedError);
          refused++;
        }
      }
    }
    // Only a raised fee or slashing output can pass; nearly every mutation is refused.
    expect(refused).toBeGreaterThan(bytes.length * 3 * 0.9);
  });
});
