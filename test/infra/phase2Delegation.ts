import { randomBytes } from 'node:crypto';
import { Transaction } from 'bitcoinjs-lib';
import type { RpcClient } from '../../bitcoind/index.ts';
import { toHex, type XOnlyKey } from '../../common/index.ts';
import type { Phase2ParamsVersion } from '../../params/index.ts';
import type { SignTransactionsRequestBody } from '../../signer/phase2.ts';
import {
  buildSlashingTx,
  buildStakingInfo,
  buildUnbondingInfo,
  buildUnbondingTx,
  fundingOutputOf,
  parseTransaction,
  type StakingInfo,
  type UnbondingInfo,
} from '../../staking/index.ts';
import { type TestKey, testKey } from '../keys.ts';

/** A phase-2 params_versions document (the chain's REST shape), one entry per `over`. */
export function phase2ParamsDoc(
  covenantKeys: readonly XOnlyKey[],
  ...over: Record<string, unknown>[]
): Record<string, unknown> {
  const base = {
    covenant_pks: covenantKeys.map(toHex),
    covenant_quorum: 2,
    min_staking_value_sat: '10000',
    max_staking_value_sat: '10000000000',
    min_staking_time_blocks: 10,
    max_staking_time_blocks: 1000,
    // P2WPKH of a fixed 20-byte hash.
    slashing_pk_script: Buffer.from(`0014${'5b'.repeat(20)}`, 'hex').toString('base64'),
    min_slashing_tx_fee_sat: '1000',
    slashing_rate: '0.100000000000000000',
    unbonding_time_blocks: 20,
    unbonding_fee_sat: '1000',
    min_commission_rate: '0.030000000000000000',
    delegation_creation_base_gas_fee: '1095000',
    allow_list_expiration_height: '0',
    btc_activation_height: 1,
  };
  return {
    params: (over.length ? over : [{}]).map((o, version) => ({ version, params: { ...base, ...o } })),
    pagination: { next_key: null, total: String(Math.max(1, over.length)) },
  };
}

export interface Phase2Delegation {
  readonly staker: TestKey;
  readonly fps: readonly TestKey[];
  readonly stakingTx: Transaction;
  readonly stakingOutputIdx: number;
  readonly stakingInfo: StakingInfo;
  readonly unbondingInfo: UnbondingInfo;
  readonly slashingTx: Transaction;
  readonly unbondingTx: Transaction;
  readonly slashUnbondingTx: Transaction;
  readonly body: SignTransactionsRequestBody;
}

export interface DelegationOptions {
  readonly valueSat?: bigint;
  readonly stakingTime?: number;
  /** Unbonding output value (default: staking value − the params' fee). */
  readonly unbondingValueSat?: bigint;
  /** The CSV of the unbonding output (default: the params'). */
  readonly unbondingTime?: number;
  /** Funded, broadcast and mined on this wallet; otherwise a tx with a made-up input, never sent. */
  readonly wallet?: RpcClient;
  readonly mine?: () => Promise<unknown>;
  readonly stakerLabel?: string;
  /** Use this staking tx (e.g. a stake-expansion tx) instead of building one; its output `stakingOutputIdx` must be the staking output. */
  readonly stakingTx?: Transaction;
}

/**
 * A phase-2 delegation built with staking/'s builders, as btc-staking-ts would: staking tx,
 * unbonding tx, both slashing txs, and the reference request body for them.
 */
export async function buildPhase2Delegation(
  v: Phase2ParamsVersion,
  o: DelegationOptions = {},
): Promise<Phase2Delegation> {
  const staker = testKey(o.stakerLabel ?? `p2-staker-${toHex(randomBytes(4))}`);
  const fps = [testKey('p2-fp')];
  const keys = {
    stakerKey: staker.xOnly,
    fpKeys: fps.map((f) => f.xOnly),
    covenantKeys: v.covenantKeys,
    covenantQuorum: v.covenantQuorum,
  };
  const valueSat = o.valueSat ?? 100_000n;
  const stakingInfo = buildStakingInfo(keys, o.stakingTime ?? v.maxStakingTimeBlocks);
  let stakingTx = new Transaction();
  stakingTx.version = 2;
  stakingTx.addOutput(stakingInfo.pkScript, valueSat);
  if (o.stakingTx) {
    stakingTx = o.stakingTx;
  } else if (o.wallet) {
    const funded = await o.wallet.fundrawtransaction(stakingTx.toHex());
    const signed = await o.wallet.signrawtransactionwithwallet(funded.hex);
    await o.wallet.sendrawtransaction(signed.hex);
    await o.mine?.();
    stakingTx = parseTransaction(signed.hex);
  } else {
    stakingTx.addInput(randomBytes(32), 0);
  }
  const stakingOutputIdx = stakingTx.outs.findIndex(
    (out) => toHex(out.script) === toHex(stakingInfo.pkScript),
  );
  const unbondingInfo = buildUnbondingInfo(keys, o.unbondingTime ?? v.unbondingTimeBlocks);
  const unbondingTx = buildUnbondingTx({
    stakingTxid: stakingTx.getId(),
    stakingOutputIndex: stakingOutputIdx,
    unbondingInfo,
    unbondingValueSat: o.unbondingValueSat ?? valueSat - v.unbondingFeeSat,
  });
  const slashingTx = buildSlashingTx({
    funding: fundingOutputOf(stakingTx, stakingOutputIdx),
    stakerKey: staker.xOnly,
    params: v,
  });
  const slashUnbondingTx = buildSlashingTx({
    funding: fundingOutputOf(unbondingTx, 0),
    stakerKey: staker.xOnly,
    params: v,
  });
  return {
    staker,
    fps,
    stakingTx,
    stakingOutputIdx,
    stakingInfo,
    unbondingInfo,
    slashingTx,
    unbondingTx,
    slashUnbondingTx,
    body: requestBody({
      stakingTx,
      slashingTx,
      unbondingTx,
      slashUnbondingTx,
      stakingOutputIdx,
      stakingInfo,
      unbondingInfo,
      fps,
    }),
  };
}

/** The reference body for a set of txs (signtransactions.go:166-227: fp_enc_keys = 02 ‖ x). */
export function requestBody(d: {
  stakingTx: Transaction;
  slashingTx: Transaction;
  unbondingTx: Transaction;
  slashUnbondingTx: Transaction;
  stakingOutputIdx: number;
  stakingInfo: StakingInfo;
  unbondingInfo: UnbondingInfo;
  fps: readonly TestKey[];
}): SignTransactionsRequestBody {
  return {
    staking_tx_hex: d.stakingTx.toHex(),
    slashing_tx_hex: d.slashingTx.toHex(),
    unbonding_tx_hex: d.unbondingTx.toHex(),
    slash_unbonding_tx_hex: d.slashUnbondingTx.toHex(),
    staking_output_idx: d.stakingOutputIdx,
    slashing_script_hex: toHex(d.stakingInfo.slashing.script),
    unbonding_script_hex: toHex(d.stakingInfo.unbonding.script),
    unbonding_slashing_script_hex: toHex(d.unbondingInfo.slashing.script),
    fp_enc_keys: d.fps.map((f) => `02${toHex(f.xOnly)}`),
  };
}
