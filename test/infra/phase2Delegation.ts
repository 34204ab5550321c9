import { randomBytes } from 'node:crypto';
import { Transaction } from 'bitcoinjs-lib';
import { expect } from 'vitest';
import type { RegtestNode, RpcClient } from '../../bitcoind/index.ts';
import { bytesEqual, toHex, type XOnlyKey } from '../../common/index.ts';
import type { Phase2ParamsVersion } from '../../params/index.ts';
import {
  assertSlashingTxMatchesFundingTx,
  buildSlashingTx,
  buildStakingInfo,
  buildUnbondingInfo,
  buildUnbondingTx,
  fundingOutputOf,
  parseTransaction,
  type SignTransactionsRequestBody,
  type StakingInfo,
  type UnbondingInfo,
} from '../../staking/index.ts';
import { type TestKey, testKey } from '../keys.ts';

/*
 * The one way a test builds a phase-2 delegation: the staking tx (on a regtest chain, or with a
 * made-up input for checks that need no chain), the three txs the covenant committee signs for it,
 * and the reference body of `POST /v1/sign-transactions` for them, so the signer's tests and the
 * on-chain consensus proof sign and spend the very same shapes.
 */

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

/** A regtest node with a funded wallet and where to mine to. */
export interface Chain {
  readonly node: RegtestNode;
  readonly wallet: RpcClient;
  readonly minerAddress: string;
}

export async function mine(chain: Chain, n = 1): Promise<number> {
  await chain.node.rpc.generatetoaddress(n, chain.minerAddress);
  return chain.node.rpc.getblockcount();
}

/** testmempoolaccept of one tx: whether the node's full policy and consensus checks pass, and why not. */
export async function mempoolVerdict(
  chain: Chain,
  tx: Transaction,
): Promise<{ allowed: boolean; reason: string }> {
  const [r] = await chain.node.rpc.testmempoolaccept([tx.toHex()]);
  return { allowed: r?.allowed === true, reason: r?.['reject-reason'] ?? '' };
}

/** Broadcasts, mines one block, and returns the tx as the node stored it in that block. */
export async function sendAndMine(
  chain: Chain,
  tx: Transaction,
): Promise<{ tx: Transaction; height: number }> {
  const txid = await chain.node.rpc.sendrawtransaction(tx.toHex());
  const height = await mine(chain);
  const raw = await chain.node.rpc.getrawtransaction(txid, true);
  expect(raw.confirmations).toBe(1);
  return { tx: parseTransaction(raw.hex), height };
}

export interface Phase2Delegation {
  /** The params version the txs were built with. */
  readonly params: Phase2ParamsVersion;
  readonly staker: TestKey;
  readonly fps: readonly TestKey[];
  readonly stakingTx: Transaction;
  readonly stakingOutputIdx: number;
  /** The staking tx's block height; undefined when it was never sent. */
  readonly inclusionHeight?: number;
  readonly stakingInfo: StakingInfo;
  readonly unbondingInfo: UnbondingInfo;
  readonly slashingTx: Transaction;
  readonly unbondingTx: Transaction;
  readonly slashUnbondingTx: Transaction;
  readonly body: SignTransactionsRequestBody;
}

export interface DelegationOptions {
  readonly valueSat?: bigint;
  /** Default: the version's maximum, the time the signer finds first. */
  readonly stakingTime?: number;
  /** Unbonding output value (default: staking value − the params' fee). */
  readonly unbondingValueSat?: bigint;
  /** The CSV of the unbonding output (default: the params'). */
  readonly unbondingTime?: number;
  /** Funded by this chain's wallet, sent and mined in one block; otherwise a made-up input, never sent. */
  readonly chain?: Chain;
  /** Default: a fresh staker per delegation, so no two tests share a staking output. */
  readonly stakerLabel?: string;
  /** Default: the single provider `p2-fp`. */
  readonly fps?: readonly TestKey[];
  /** Use this staking tx (e.g. a stake-expansion tx) instead of building one; its output `stakingOutputIdx` must be the staking output. */
  readonly stakingTx?: Transaction;
}

/**
 * A phase-2 delegation built with staking/'s builders, as btc-staking-ts would: staking tx,
 * unbonding tx, both slashing txs, and the reference request body for them. Both slashing txs are
 * checked by the rule the chain applies to them (CheckSlashingTxMatchFundingTx), so a test that
 * wants a rule broken breaks it on purpose, after this.
 */
export async function buildPhase2Delegation(
  v: Phase2ParamsVersion,
  o: DelegationOptions = {},
): Promise<Phase2Delegation> {
  const staker = testKey(o.stakerLabel ?? `p2-staker-${toHex(randomBytes(4))}`);
  const fps = o.fps ?? [testKey('p2-fp')];
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
  let inclusionHeight: number | undefined;
  if (o.stakingTx) {
    stakingTx = o.stakingTx;
  } else if (o.chain) {
    const funded = await o.chain.wallet.fundrawtransaction(stakingTx.toHex());
    const signed = await o.chain.wallet.signrawtransactionwithwallet(funded.hex);
    expect(signed.complete).toBe(true);
    ({ tx: stakingTx, height: inclusionHeight } = await sendAndMine(o.chain, parseTransaction(signed.hex)));
  } else {
    stakingTx.addInput(randomBytes(32), 0);
  }
  // The wallet places its change output anywhere: find ours.
  const stakingOutputIdx = stakingTx.outs.findIndex((out) => bytesEqual(out.script, stakingInfo.pkScript));
  expect(stakingOutputIdx).toBeGreaterThanOrEqual(0);
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
  assertSlashingTxMatchesFundingTx(slashingTx, stakingTx, stakingOutputIdx, staker.xOnly, v);
  const slashUnbondingTx = buildSlashingTx({
    funding: fundingOutputOf(unbondingTx, 0),
    stakerKey: staker.xOnly,
    params: v,
  });
  assertSlashingTxMatchesFundingTx(slashUnbondingTx, unbondingTx, 0, staker.xOnly, v);
  return {
    params: v,
    staker,
    fps,
    stakingTx,
    stakingOutputIdx,
    ...(inclusionHeight === undefined ? {} : { inclusionHeight }),
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
