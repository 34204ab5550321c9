// Test support for hsm/'s tests (not exported from index.ts): realistic unbonding sign requests built
// with staking/, so that every backend, including the wallet's PSBT path, signs the real thing.
import { createHash } from 'node:crypto';
import { toHex, type XOnlyKey } from '../common/index.ts';
import {
  buildStakingInfo,
  buildUnbondingInfo,
  buildUnbondingTx,
  taprootSighashDefault,
} from '../staking/index.ts';
import { testKey } from '../test/keys.ts';
import type { UnbondingSignRequest } from './custody.ts';

/**
 * An unbonding request for `key` as one of three covenant keys (quorum 2), beside two test covenant
 * keys, spending a made-up staking outpoint (`label` varies it).
 */
export function unbondingRequestFor(
  key: XOnlyKey,
  opts: { label?: string; covenantKeys?: readonly XOnlyKey[] } = {},
): UnbondingSignRequest {
  const label = opts.label ?? 'request';
  const keys = {
    stakerKey: testKey('hsm-staker').xOnly,
    fpKeys: [testKey('hsm-fp').xOnly],
    covenantKeys: opts.covenantKeys ?? [key, testKey('hsm-cov-x').xOnly, testKey('hsm-cov-y').xOnly],
    covenantQuorum: 2,
  };
  const staking = buildStakingInfo(keys, 100);
  const valueSat = 100_000n;
  const unbondingTx = buildUnbondingTx({
    stakingTxid: toHex(createHash('sha256').update(`hsm-test-staking-tx:${label}`).digest()),
    stakingOutputIndex: 0,
    unbondingInfo: buildUnbondingInfo(keys, 3),
    unbondingValueSat: valueSat - 1_000n,
  });
  const sighash = taprootSighashDefault(
    unbondingTx,
    0,
    [staking.pkScript],
    [valueSat],
    staking.unbonding.leafHash,
  );
  return {
    key,
    sighash,
    unbondingTx,
    stakingOutput: { script: staking.pkScript, valueSat },
    leaf: staking.unbonding,
  };
}
