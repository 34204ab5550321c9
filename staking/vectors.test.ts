import { initEccLib, payments } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import { ecc, parseCompressedKey, toHex, xOnlyOf } from '../common/index.ts';
import { describeVectors, readVector, VECTORS_MISSING } from '../test/infra/vectors.ts';
import {
  buildStakingInfo,
  buildUnbondingInfo,
  buildUnbondingTx,
  buildV0OpReturn,
  decodeV0OpReturn,
  NUMS_INTERNAL_KEY,
  parseTransaction,
  taprootAddress,
} from './index.ts';

/** Babylon's published cross-implementation vectors (btcstaking/testvectors/vectors.json @18af6aab). */
interface Vector {
  name: string;
  parameters: {
    covenant_public_keys: string[];
    covenant_quorum: number;
    finality_provider_public_keys: string[];
    staker_public_key: string;
    staking_time: number;
    staking_value: number;
    staking_tx_hash: string;
    staking_output_index: number;
    unbonding_time: number;
    unbonding_fee: number;
    tag: string;
    network: string;
  };
  expected: Record<string, string | number>;
}
// Read in place from ../shared/vectors; where that is absent the cases below are not there to run,
// and the count test says why it is skipped.
const { vectors } = (VECTORS_MISSING ? { vectors: [] } : JSON.parse(readVector('vectors.json'))) as {
  vectors: Vector[];
};

describeVectors('vectors.json', () => {
  it('holds the five published cases', () => expect(vectors).toHaveLength(5));
});

initEccLib(ecc);

const xonly = (hex: string) => xOnlyOf(parseCompressedKey(hex, 'key', 'STAKING_INVALID_KEY'));

describe.each(vectors.map((v) => [v.name, v] as const))('vector: %s', (_name, v) => {
  const p = v.parameters;
  const keys = {
    stakerKey: xonly(p.staker_public_key),
    fpKeys: p.finality_provider_public_keys.map(xonly),
    covenantKeys: p.covenant_public_keys.map(xonly),
    covenantQuorum: p.covenant_quorum,
  };
  const staking = buildStakingInfo(keys, p.staking_time);
  const unbonding = buildUnbondingInfo(keys, p.unbonding_time);
  const e = v.expected;

  it('reproduces the three staking leaves', () => {
    expect(toHex(staking.timelock.script)).toBe(e.staking_transaction_timelock_script_hex);
    expect(toHex(staking.unbonding.script)).toBe(e.staking_transaction_unbonding_script_hex);
    expect(toHex(staking.slashing.script)).toBe(e.staking_transaction_slashing_script_hex);
  });

  it('reproduces the staking pkScript and the bech32m address', () => {
    expect(toHex(staking.pkScript)).toBe(e.staking_output_pkscript_hex);
    expect(e.staking_output_value).toBe(p.staking_value);
    expect(taprootAddress(staking.pkScript, 'mainnet')).toBe(e.taproot_address_staking_output);
  });

  it('reproduces the OP_RETURN (single-FP cases) and decodes it back', () => {
    if (keys.fpKeys.length !== 1) {
      expect(e.op_return_script_hex).toBe('');
      return;
    }
    const tag = Uint8Array.from(Buffer.from(p.tag, 'hex'));
    const script = buildV0OpReturn({
      tag,
      stakerKey: keys.stakerKey,
      fpKey: keys.fpKeys[0]!,
      stakingTime: p.staking_time,
    });
    expect(toHex(script)).toBe(e.op_return_script_hex);
    const d = decodeV0OpReturn(script);
    expect(d && toHex(d.stakerKey)).toBe(toHex(keys.stakerKey));
    expect(d?.stakingTime).toBe(p.staking_time);
  });

  it('reproduces the unsigned unbonding tx byte for byte', () => {
    const tx = buildUnbondingTx({
      stakingTxid: p.staking_tx_hash,
      stakingOutputIndex: p.staking_output_index,
      unbondingInfo: unbonding,
      unbondingValueSat: BigInt(p.staking_value - p.unbonding_fee),
    });
    expect(tx.toHex()).toBe(e.unbonding_transaction_hex);
    expect(parseTransaction(e.unbonding_transaction_hex as string).toHex()).toBe(e.unbonding_transaction_hex);
  });

  it('reproduces the two unbonding-output leaves', () => {
    expect(toHex(unbonding.timelock.script)).toBe(e.unbonding_transaction_time_lock_script_hex);
    expect(toHex(unbonding.slashing.script)).toBe(e.unbonding_transaction_slashing_script_hex);
  });

  it('agrees with bitcoinjs p2tr on the output key and every control block', () => {
    const tree = [
      { output: staking.slashing.script },
      [{ output: staking.timelock.script }, { output: staking.unbonding.script }],
    ];
    for (const leaf of [staking.timelock, staking.unbonding, staking.slashing]) {
      const pay = payments.p2tr({
        internalPubkey: NUMS_INTERNAL_KEY,
        scriptTree: tree as never,
        redeem: { output: leaf.script, redeemVersion: 0xc0 },
      });
      expect(toHex(pay.output!)).toBe(toHex(staking.pkScript));
      const w = pay.witness!;
      expect(toHex(w[w.length - 1]!)).toBe(toHex(leaf.controlBlock));
    }
  });
});
