import { Block, Transaction } from 'bitcoinjs-lib';
import { txidToHash } from '../../common/index.ts';
import type { ParamsVersion } from '../../params/index.ts';
import {
  buildStakingInfo,
  buildTimelockWithdrawTx,
  buildTimelockWitness,
  buildUnbondingTx,
  buildUnbondingWitness,
  buildV0OpReturn,
  expectUnbonding,
  type StakingInfo,
  type StakingTxData,
  scriptPathSighash,
  type UnbondingExpectation,
  unbondingSighash,
} from '../../staking/index.ts';
import type { TestKey } from '../../test/keys.ts';

/**
 * Builders of staking, unbonding and withdraw transactions for the indexer's tests and benchmark,
 * on the staking/ functions, with real signatures (so a node accepts them). Funding inputs are
 * whatever outpoint the caller gives (the on-chain kit uses bare OP_TRUE outputs, which need no
 * signature). Ranges are not checked, so invalid stakes can be built on purpose.
 */

/** `OP_TRUE`: an output anyone can spend with an empty scriptSig (consensus-valid, non-standard). */
export const OP_TRUE_SCRIPT = Uint8Array.of(0x51);

export interface Outpoint {
  readonly txid: string;
  readonly vout: number;
  readonly valueSat: bigint;
}

export interface Stake {
  readonly tx: Transaction;
  readonly txid: string;
  readonly version: ParamsVersion;
  readonly staker: TestKey;
  readonly data: StakingTxData;
  readonly stakingInfo: StakingInfo;
}

export interface StakeArgs {
  readonly version: ParamsVersion;
  readonly staker: TestKey;
  readonly fp: TestKey;
  readonly stakingTime: number;
  readonly valueSat: bigint;
  readonly funding: Outpoint;
  /** Change back to OP_TRUE (default: whatever is left minus `feeSat`, when above 1000 sat). */
  readonly feeSat?: bigint;
  /** Replace the OP_RETURN script (e.g. a wrong tag or version). */
  readonly opReturnScript?: Uint8Array;
  /** Outputs added after the OP_RETURN (e.g. a second v0 OP_RETURN with another tag). */
  readonly extraOutputs?: ReadonlyArray<{ readonly script: Uint8Array; readonly valueSat: bigint }>;
  /** Add a second staking output. */
  readonly duplicateStakingOutput?: boolean;
  /** Covenant set to build the staking script with (default the version's). */
  readonly covenantKeys?: ParamsVersion['covenantKeys'];
}

export function buildStake(a: StakeArgs): Stake {
  const v = a.version;
  const stakingInfo = buildStakingInfo(
    {
      stakerKey: a.staker.xOnly,
      fpKeys: [a.fp.xOnly],
      covenantKeys: a.covenantKeys ?? v.covenantKeys,
      covenantQuorum: v.covenantQuorum,
    },
    a.stakingTime,
    { allowZeroTimelock: true },
  );
  const opReturn =
    a.opReturnScript ??
    buildV0OpReturn({ tag: v.tag, stakerKey: a.staker.xOnly, fpKey: a.fp.xOnly, stakingTime: a.stakingTime });
  const tx = new Transaction();
  tx.version = 2;
  tx.addInput(txidToHash(a.funding.txid, 'TEST'), a.funding.vout, 0xfffffffd);
  tx.addOutput(stakingInfo.pkScript, a.valueSat);
  tx.addOutput(opReturn, 0n);
  for (const o of a.extraOutputs ?? []) tx.addOutput(o.script, o.valueSat);
  if (a.duplicateStakingOutput) tx.addOutput(stakingInfo.pkScript, a.valueSat);
  const spent = a.valueSat * (a.duplicateStakingOutput ? 2n : 1n);
  const change = a.funding.valueSat - spent - (a.feeSat ?? 1_000n);
  if (change > 1_000n) tx.addOutput(OP_TRUE_SCRIPT, change);
  const data: StakingTxData = {
    stakerKey: a.staker.xOnly,
    fpKey: a.fp.xOnly,
    stakingTime: a.stakingTime,
    valueSat: a.valueSat,
    stakingOutputIndex: 0,
    opReturnIndex: 1,
    paramsVersion: v.version,
    stakingInfo,
  };
  return { tx, txid: tx.getId(), version: v, staker: a.staker, data, stakingInfo };
}

/** The change output of a stake built by buildStake, as a funding outpoint for the next one. */
export function changeOf(s: Stake): Outpoint | undefined {
  const i = s.tx.outs.findIndex((o, k) => k > 1 && o.script.length === 1 && o.script[0] === 0x51);
  return i < 0 ? undefined : { txid: s.txid, vout: i, valueSat: s.tx.outs[i]!.value };
}

export interface Unbonding {
  readonly tx: Transaction;
  readonly txid: string;
  readonly exp: UnbondingExpectation;
}

/**
 * The unbonding tx of a stake, signed by the staker and the first `quorum` covenants, with
 * optional changes (made before signing, so a node still accepts the signatures).
 */
export function buildUnbonding(
  s: Stake,
  covenants: readonly TestKey[],
  change: { sequence?: number; locktime?: number; valueDelta?: bigint; outputScript?: Uint8Array } = {},
): Unbonding {
  const exp = expectUnbonding(s.txid, s.data, s.version);
  const tx = buildUnbondingTx(exp);
  if (change.sequence !== undefined) tx.ins[0]!.sequence = change.sequence;
  if (change.locktime !== undefined) tx.locktime = change.locktime;
  if (change.valueDelta !== undefined) tx.outs[0]!.value += change.valueDelta;
  if (change.outputScript !== undefined) tx.outs[0]!.script = change.outputScript;
  const sighash = unbondingSighash(tx, exp);
  const q = s.version.covenantQuorum;
  tx.ins[0]!.witness = buildUnbondingWitness({
    covenantKeys: s.version.covenantKeys,
    quorum: q,
    covenantSignatures: covenants.slice(0, q).map((k) => ({ key: k.xOnly, signature: k.sign(sighash) })),
    stakerSignature: s.staker.sign(sighash),
    leaf: s.stakingInfo.unbonding,
  });
  return { tx, txid: tx.getId(), exp };
}

/** Withdraw from the staking output through its timelock leaf (nSequence = staking time). */
export function buildWithdrawFromStaking(
  s: Stake,
  payout: Uint8Array = OP_TRUE_SCRIPT,
  feeSat = 1_000n,
): Transaction {
  const tx = buildTimelockWithdrawTx({
    prevTxid: s.txid,
    prevVout: s.data.stakingOutputIndex,
    timelockBlocks: s.data.stakingTime,
    prevValueSat: s.data.valueSat,
    feeSat,
    outputScript: payout,
  });
  const h = scriptPathSighash(
    tx,
    0,
    { pkScripts: [s.stakingInfo.pkScript], valuesSat: [s.data.valueSat] },
    s.stakingInfo.timelock,
  );
  tx.ins[0]!.witness = buildTimelockWitness(s.staker.sign(h), s.stakingInfo.timelock);
  return tx;
}

/** Withdraw from the unbonding output through its timelock leaf (nSequence = unbonding time). */
export function buildWithdrawFromUnbonding(
  s: Stake,
  u: Unbonding,
  payout: Uint8Array = OP_TRUE_SCRIPT,
  feeSat = 1_000n,
): Transaction {
  const tx = buildTimelockWithdrawTx({
    prevTxid: u.txid,
    prevVout: 0,
    timelockBlocks: s.version.unbondingTime,
    prevValueSat: u.exp.unbondingValueSat,
    feeSat,
    outputScript: payout,
  });
  const leaf = u.exp.unbondingInfo.timelock;
  const h = scriptPathSighash(
    tx,
    0,
    { pkScripts: [u.exp.unbondingInfo.pkScript], valuesSat: [u.exp.unbondingValueSat] },
    leaf,
  );
  tx.ins[0]!.witness = buildTimelockWitness(s.staker.sign(h), leaf);
  return tx;
}

/**
 * Spends the staking output through the slashing leaf (phase-2 only; to the indexer an unknown
 * spend), signed by the staker, the finality provider and a covenant quorum, so a node accepts it.
 */
export function buildSignedSlashingSpend(s: Stake, fp: TestKey, covenants: readonly TestKey[]): Transaction {
  const tx = buildTimelockWithdrawTx({
    prevTxid: s.txid,
    prevVout: s.data.stakingOutputIndex,
    timelockBlocks: 0,
    prevValueSat: s.data.valueSat,
    feeSat: 1_000n,
    outputScript: OP_TRUE_SCRIPT,
  });
  const leaf = s.stakingInfo.slashing;
  const h = scriptPathSighash(
    tx,
    0,
    { pkScripts: [s.stakingInfo.pkScript], valuesSat: [s.data.valueSat] },
    leaf,
  );
  const q = s.version.covenantQuorum;
  // [covenant slots…, staker sig, script, control block]; the FP signature goes right under the staker's.
  const w = buildUnbondingWitness({
    covenantKeys: s.version.covenantKeys,
    quorum: q,
    covenantSignatures: covenants.slice(0, q).map((k) => ({ key: k.xOnly, signature: k.sign(h) })),
    stakerSignature: s.staker.sign(h),
    leaf,
  });
  w.splice(w.length - 3, 0, fp.sign(h));
  tx.ins[0]!.witness = w;
  return tx;
}

/** Spends the staking output through the slashing leaf's script (not a withdraw; phase-2 only). */
export function buildSlashingPathSpend(s: Stake): Transaction {
  const tx = buildTimelockWithdrawTx({
    prevTxid: s.txid,
    prevVout: s.data.stakingOutputIndex,
    timelockBlocks: 0,
    prevValueSat: s.data.valueSat,
    feeSat: 1_000n,
    outputScript: OP_TRUE_SCRIPT,
  });
  tx.ins[0]!.witness = [
    new Uint8Array(64),
    s.stakingInfo.slashing.script,
    s.stakingInfo.slashing.controlBlock,
  ];
  return tx;
}

/**
 * A block's raw bytes for unit tests of the walk and the decisions: a coinbase then `txs`, under a
 * fixed header (no proof of work, no merkle root: nothing here checks them).
 */
export function rawBlock(txs: readonly Transaction[]): Uint8Array {
  const b = new Block();
  b.version = 0x20000000;
  b.prevHash = new Uint8Array(32).fill(7);
  b.merkleRoot = new Uint8Array(32);
  b.timestamp = 1_700_000_123;
  b.bits = 0x207fffff;
  b.nonce = 0;
  const coinbase = new Transaction();
  coinbase.addInput(new Uint8Array(32), 0xffffffff);
  coinbase.addOutput(Uint8Array.of(0x51), 5_000_000_000n);
  b.transactions = [coinbase, ...txs];
  return b.toBuffer();
}
