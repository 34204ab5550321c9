import { Transaction } from 'bitcoinjs-lib';
import { expect } from 'vitest';
import type { RegtestNode, RpcClient } from '../../bitcoind/index.ts';
import { bytesEqual, toHex, type XOnlyKey } from '../../common/index.ts';
import { assertPhase2Version, type Phase2Params, type Phase2ParamsVersion } from '../../params/index.ts';
import {
  assertSlashingTxMatchesFundingTx,
  babylonEncryptionKey,
  buildSlashingTx,
  buildStakingInfo,
  buildUnbondingInfo,
  buildUnbondingTx,
  fundingOutputOf,
  parseTransaction,
  type StakingInfo,
  type UnbondingInfo,
} from '../../staking/index.ts';

/*
 * A phase-2 delegation on a regtest chain: the staking tx (funded by a wallet, mined) and the three
 * transactions the covenant committee signs for it, in the wire shape of the phase-2 signer's
 * `POST /v1/sign-transactions` (phase2-covenant.md §4.1, §4.2), so a test can take its covenant
 * signatures from pure code today and from the real signer route later without other changes.
 */

/** The reference request body (verbatim JSON keys, §4.1), without the stake-expansion object. */
export interface SignTransactionsRequest {
  readonly staking_tx_hex: string;
  readonly slashing_tx_hex: string;
  readonly unbonding_tx_hex: string;
  readonly slash_unbonding_tx_hex: string;
  readonly staking_output_idx: number;
  readonly slashing_script_hex: string;
  readonly unbonding_script_hex: string;
  readonly unbonding_slashing_script_hex: string;
  readonly fp_enc_keys: readonly string[];
}

/** One member's response, the value under `data` (§4.2). */
export interface SignTransactionsResponse {
  readonly slashing_transactions_signatures: readonly string[];
  readonly unbonding_transaction_signature: string;
  readonly slash_unbonding_transactions_signatures: readonly string[];
  readonly stake_expansion_transaction_signature: string;
}

/** A member's answer, with the key it signed with (the caller knows which signer it asked). */
export interface MemberSignatures {
  readonly key: XOnlyKey;
  readonly response: SignTransactionsResponse;
}

export interface Phase2Delegation {
  readonly params: Phase2ParamsVersion;
  readonly stakerKey: XOnlyKey;
  readonly fpKeys: readonly XOnlyKey[];
  readonly stakingTx: Transaction;
  readonly stakingOutputIndex: number;
  readonly stakingValueSat: bigint;
  readonly inclusionHeight: number;
  readonly stakingInfo: StakingInfo;
  readonly slashingTx: Transaction;
  readonly unbondingTx: Transaction;
  readonly unbondingInfo: UnbondingInfo;
  readonly unbondingSlashingTx: Transaction;
}

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

/**
 * Stakes `valueSat` for `stakingTime` blocks with the params in force at the next block's height,
 * has the wallet fund it, mines it, and builds the delegation's slashing, unbonding and
 * unbonding-slashing txs, each checked by the rules the chain applies to them
 * (CheckSlashingTxMatchFundingTx for both slashing txs).
 */
export async function stakePhase2(
  chain: Chain,
  args: {
    readonly params: Phase2Params;
    readonly stakerKey: XOnlyKey;
    readonly fpKeys: readonly XOnlyKey[];
    readonly stakingTime: number;
    readonly valueSat: bigint;
  },
): Promise<Phase2Delegation> {
  const nextHeight = (await chain.node.rpc.getblockcount()) + 1;
  const params = assertPhase2Version(args.params, nextHeight);
  const keys = {
    stakerKey: args.stakerKey,
    fpKeys: args.fpKeys,
    covenantKeys: params.covenantKeys,
    covenantQuorum: params.covenantQuorum,
  };
  const stakingInfo = buildStakingInfo(keys, args.stakingTime);
  const unfunded = new Transaction();
  unfunded.version = 2;
  unfunded.addOutput(stakingInfo.pkScript, args.valueSat);
  const funded = await chain.wallet.fundrawtransaction(unfunded.toHex());
  const signed = await chain.wallet.signrawtransactionwithwallet(funded.hex);
  expect(signed.complete).toBe(true);
  const { tx: stakingTx, height } = await sendAndMine(chain, parseTransaction(signed.hex));
  // The wallet places its change output anywhere: find ours.
  const stakingOutputIndex = stakingTx.outs.findIndex((o) => bytesEqual(o.script, stakingInfo.pkScript));
  expect(stakingOutputIndex).toBeGreaterThanOrEqual(0);
  expect(assertPhase2Version(args.params, height).version).toBe(params.version);

  const funding = fundingOutputOf(stakingTx, stakingOutputIndex);
  const slashingTx = buildSlashingTx({ funding, stakerKey: args.stakerKey, params });
  assertSlashingTxMatchesFundingTx(slashingTx, stakingTx, stakingOutputIndex, args.stakerKey, params);

  const unbondingInfo = buildUnbondingInfo(keys, params.unbondingTimeBlocks);
  const unbondingTx = buildUnbondingTx({
    stakingTxid: stakingTx.getId(),
    stakingOutputIndex,
    unbondingInfo,
    unbondingValueSat: args.valueSat - params.unbondingFeeSat,
  });
  const unbondingSlashingTx = buildSlashingTx({
    funding: fundingOutputOf(unbondingTx, 0),
    stakerKey: args.stakerKey,
    params,
  });
  assertSlashingTxMatchesFundingTx(unbondingSlashingTx, unbondingTx, 0, args.stakerKey, params);

  return {
    params,
    stakerKey: args.stakerKey,
    fpKeys: args.fpKeys,
    stakingTx,
    stakingOutputIndex,
    stakingValueSat: args.valueSat,
    inclusionHeight: height,
    stakingInfo,
    slashingTx,
    unbondingTx,
    unbondingInfo,
    unbondingSlashingTx,
  };
}

/** The request the covenant emulator would send every committee member for this delegation. */
export function signTransactionsRequest(d: Phase2Delegation): SignTransactionsRequest {
  return {
    staking_tx_hex: d.stakingTx.toHex(),
    slashing_tx_hex: d.slashingTx.toHex(),
    unbonding_tx_hex: d.unbondingTx.toHex(),
    slash_unbonding_tx_hex: d.unbondingSlashingTx.toHex(),
    staking_output_idx: d.stakingOutputIndex,
    slashing_script_hex: toHex(d.stakingInfo.slashing.script),
    unbonding_script_hex: toHex(d.stakingInfo.unbonding.script),
    unbonding_slashing_script_hex: toHex(d.unbondingInfo.slashing.script),
    fp_enc_keys: d.fpKeys.map((k) => toHex(babylonEncryptionKey(k))),
  };
}
