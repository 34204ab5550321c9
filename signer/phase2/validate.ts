// Every check before a phase-2 signature: the request parsed, the params version chosen, the
// scripts and outputs rebuilt from the keys, the expansion checked; the plan the signer then follows.
import { createHash } from 'node:crypto';
import type { Transaction } from 'bitcoinjs-lib';
import {
  bytesEqual,
  CodedError,
  hashToTxid,
  isCodedError,
  parseCompressedKey,
  parseHex,
  parseXOnlyKey,
  toHex,
  type XOnlyKey,
  xOnlyOf,
} from '../../common/index.ts';
import { type Phase2Params, type Phase2ParamsVersion, selectPhase2Version } from '../../params/index.ts';
import {
  assertCovenantOverlap,
  assertSlashingTxMatchesFundingTx,
  assertStakeExpansionTx,
  assertUnbondingShape,
  babylonEncryptionKey,
  buildStakingInfo,
  buildTimelockLeaf,
  buildUnbondingInfo,
  fundingOutputOf,
  isP2trScript,
  parseEncryptionKey,
  parseTransaction,
  parseTxOut,
  type SignTransactionsRequestBody,
  type StakingInfo,
  scriptPathSighash,
  slashingSighash,
  stakeExpansionSighash,
  tapBranchHash,
  tapLeafHash,
  taprootOutput,
  type UnbondingInfo,
} from '../../staking/index.ts';
import type { ChainView } from '../chain.ts';
import type { PartialFacts } from '../validate.ts';
import { setIdOf } from './memory.ts';

/** Facts known so far, for the audit record of a refusal. */
function fail(code: string, message: string, cause?: unknown): never {
  throw new CodedError(code, message, cause ? { cause } : undefined);
}

/** A transaction field; any parse failure is this route's SIGNER_P2_INVALID_TX naming the field. */
function txField(hex: string, field: string): Transaction {
  try {
    return parseTransaction(hex, field);
  } catch (e) {
    return fail('SIGNER_P2_INVALID_TX', `${field}: ${isCodedError(e) ? e.message : 'invalid'}`, e);
  }
}

function scriptField(hex: string, field: string): Uint8Array {
  return parseHex(hex, field, 'SIGNER_BAD_REQUEST_BODY', { maxBytes: 10_000 });
}

/** How many candidate staking times are tried between two turns of the event loop. */
const SCAN_CHUNK = 1000;

/**
 * The staking time the staking output commits to: the request does not carry it (nor does the
 * reference's), so it is found by rebuilding the output for each time within the params' bounds,
 * the params' maximum first (what stakers use most). A time outside the bounds is never tried, so
 * "not found" covers both an out-of-bounds time and an output these keys do not make.
 */
async function findStakingTime(
  pkScript: Uint8Array,
  stakerKey: XOnlyKey,
  unbondingLeafHash: Uint8Array,
  slashingLeafHash: Uint8Array,
  v: Phase2ParamsVersion,
): Promise<number | undefined> {
  for (let t = v.maxStakingTimeBlocks, n = 0; t >= v.minStakingTimeBlocks; t--, n++) {
    if (n > 0 && n % SCAN_CHUNK === 0) await new Promise<void>((r) => setImmediate(r));
    const inner = tapBranchHash(tapLeafHash(buildTimelockLeaf(stakerKey, t)), unbondingLeafHash);
    if (bytesEqual(taprootOutput(tapBranchHash(inner, slashingLeafHash)).pkScript, pkScript)) return t;
  }
  return undefined;
}

/** Everything the signer needs once a phase-2 request has passed every check. */
export interface Phase2Plan {
  readonly key: XOnlyKey;
  readonly keyHex: string;
  readonly version: Phase2ParamsVersion;
  readonly stakingTxid: string;
  readonly stakingVout: number;
  readonly unbondingTxid: string;
  readonly setId: string;
  readonly txids: { slashing: string; unbonding: string; slashUnbonding: string };
  readonly encKeys: readonly Uint8Array[];
  readonly slashingSighash: Uint8Array;
  readonly unbondingSlashingSighash: Uint8Array;
  readonly unbondingSighash: Uint8Array;
  readonly stakingInfo: StakingInfo;
  readonly unbondingInfo: UnbondingInfo;
  readonly unbondingTx: Transaction;
  readonly stakingOutput: { script: Uint8Array; valueSat: bigint };
  readonly stakingTime: number;
  /** Present for a stake expansion: what input 0 of the staking (expansion) tx spends, and its sighash. */
  readonly expansion?: {
    readonly previousTxid: string;
    readonly previousVout: number;
    readonly sighash: Uint8Array;
    readonly previousOutput: { script: Uint8Array; valueSat: bigint };
    readonly previousUnbondingLeaf: StakingInfo['unbonding'];
  };
}

export interface Phase2Context {
  readonly params: Phase2Params;
  readonly chain: ChainView;
  readonly tipHeight: () => Promise<number>;
  /** x-only hex of the keys custody holds. */
  readonly heldKeys: ReadonlySet<string>;
}

/**
 * Every check before a phase-2 signature, cheapest first: the emulator's E3-E9 and F2
 * (phase2-covenant.md §3), plus what it leaves to the chain — the unbonding tx's input and output,
 * the scripts rebuilt from the keys, the staking output rebuilt from them.
 * @throws {CodedError} SIGNER_P2_…, SIGNER_…, STAKING_… codes
 */
export async function validatePhase2Request(
  body: SignTransactionsRequestBody,
  ctx: Phase2Context,
  facts: PartialFacts,
): Promise<Phase2Plan> {
  // 1. Parse, without any lookup.
  const stakingTx = txField(body.staking_tx_hex, 'staking_tx_hex');
  const slashingTx = txField(body.slashing_tx_hex, 'slashing_tx_hex');
  const unbondingTx = txField(body.unbonding_tx_hex, 'unbonding_tx_hex');
  const slashUnbondingTx = txField(body.slash_unbonding_tx_hex, 'slash_unbonding_tx_hex');
  const slashingScript = scriptField(body.slashing_script_hex, 'slashing_script_hex');
  const unbondingScript = scriptField(body.unbonding_script_hex, 'unbonding_script_hex');
  const unbondingSlashingScript = scriptField(
    body.unbonding_slashing_script_hex,
    'unbonding_slashing_script_hex',
  );
  if (body.fp_enc_keys.length === 0) fail('SIGNER_P2_FP_KEYS_MISMATCH', 'fp_enc_keys is empty');
  const encKeys = body.fp_enc_keys.map((hex, i) => {
    try {
      return parseEncryptionKey(
        parseHex(hex, `fp_enc_keys[${i}]`, 'SIGNER_P2_INVALID_ENC_KEY', { bytes: 33 }),
      );
    } catch (e) {
      return fail('SIGNER_P2_INVALID_ENC_KEY', `fp_enc_keys[${i}] is not a 33-byte secp256k1 point`, e);
    }
  });
  // The chain lifts each FP key to its even-Y point (§6.2): the FP key is the x coordinate.
  const fpKeys = encKeys.map((k, i) =>
    xOnlyOf(parseCompressedKey(k, `fp_enc_keys[${i}]`, 'SIGNER_P2_INVALID_ENC_KEY')),
  );
  if (new Set(fpKeys.map(toHex)).size !== fpKeys.length)
    fail('SIGNER_P2_FP_KEYS_MISMATCH', 'fp_enc_keys names the same finality provider twice');

  const stakingTxid = stakingTx.getId();
  const stakingVout = body.staking_output_idx;
  let staking: ReturnType<typeof fundingOutputOf>;
  try {
    staking = fundingOutputOf(stakingTx, stakingVout);
  } catch (e) {
    return fail(
      'SIGNER_P2_STAKING_OUTPUT_MISMATCH',
      `staking_output_idx ${stakingVout} is not an output of the staking tx`,
      e,
    );
  }
  Object.assign(facts, { stakingTxid, stakingVout, unbondingTxid: unbondingTx.getId() });
  if (!isP2trScript(staking.pkScript))
    fail('SIGNER_P2_STAKING_OUTPUT_MISMATCH', 'the staking output is not a P2TR output');

  // 2. The params version: at the staking tx's inclusion height when the node has it in a block,
  // else at the tip (what the chain uses for a delegation registered before inclusion, §2.3).
  // A stake expansion always takes the tip's version (the chain has no inclusion proof for it).
  // The request carries the tx: while the output named is unspent, one gettxout places it.
  const inBlockHeight = async (txid: string, vout: number): Promise<number | undefined> => {
    const unspent = await ctx.chain.getUnspentInclusion?.(txid, vout);
    if (unspent) return unspent.height;
    try {
      const t = await ctx.chain.getTransaction(txid);
      if (t.blockhash && t.confirmations > 0) return await ctx.chain.getBlockHeight(t.blockhash);
    } catch (e) {
      if (!isCodedError(e, 'SIGNER_STAKING_TX_NOT_FOUND')) throw e;
    }
    return undefined;
  };
  let height = body.stake_expansion ? undefined : await inBlockHeight(stakingTxid, stakingVout);
  height ??= await ctx.tipHeight();
  const version = selectPhase2Version(ctx.params, height);
  if (!version)
    fail('SIGNER_P2_NO_PARAMS_VERSION', `no phase-2 params version is in force at BTC height ${height}`);
  facts.paramsVersion = version.version;

  // 3. Our key: held, and in that version's committee (emulator F2).
  const mine = version.covenantKeys.filter((k) => ctx.heldKeys.has(toHex(k)));
  if (mine.length === 0) {
    fail(
      'SIGNER_P2_KEY_NOT_IN_COMMITTEE',
      `no key this signer holds is in the covenant committee of phase-2 params version ${version.version}`,
    );
  }
  const key = mine[0]!;
  const keyHex = toHex(key);
  facts.keyHex = keyHex;

  // 4. Value bounds (E4).
  if (staking.valueSat < version.minStakingValueSat || staking.valueSat > version.maxStakingValueSat) {
    fail(
      'SIGNER_P2_STAKING_VALUE_OUT_OF_BOUNDS',
      `staking value ${staking.valueSat} sat is outside [${version.minStakingValueSat}, ${version.maxStakingValueSat}]`,
    );
  }

  // 5. The scripts are the ones the keys make (E9, rebuilt rather than trusted).
  if (slashingScript[0] !== 0x20 || slashingScript.length < 34)
    fail('SIGNER_P2_SCRIPT_MISMATCH', 'slashing_script_hex does not start with a staker key');
  // Babylon parses the staker key with schnorr.ParsePubKey: an x with no point is no staker key.
  const stakerKey = parseXOnlyKey(
    slashingScript.subarray(1, 33),
    'the staker key of slashing_script_hex',
    'SIGNER_P2_SCRIPT_MISMATCH',
  );
  const keys = {
    stakerKey,
    fpKeys,
    covenantKeys: version.covenantKeys,
    covenantQuorum: version.covenantQuorum,
  };
  let stakingInfo: StakingInfo;
  let unbondingInfo: UnbondingInfo;
  try {
    stakingInfo = buildStakingInfo(keys, version.minStakingTimeBlocks);
    unbondingInfo = buildUnbondingInfo(keys, version.unbondingTimeBlocks);
  } catch (e) {
    return fail('SIGNER_P2_SCRIPT_MISMATCH', 'the keys of the request do not make a staking script', e);
  }
  if (!bytesEqual(stakingInfo.slashing.script, slashingScript)) {
    // Tell a wrong set of FP keys apart from any other difference: each FP key sits in the leaf.
    const hay = toHex(slashingScript);
    if (
      fpKeys.some((k) => !hay.includes(toHex(k))) ||
      !bytesEqual(stakingInfo.unbonding.script, unbondingScript)
    )
      fail('SIGNER_P2_FP_KEYS_MISMATCH', 'fp_enc_keys are not the finality providers of slashing_script_hex');
    fail(
      'SIGNER_P2_SCRIPT_MISMATCH',
      'slashing_script_hex is not the slashing leaf of these keys and committee',
    );
  }
  if (!bytesEqual(stakingInfo.unbonding.script, unbondingScript))
    fail(
      'SIGNER_P2_SCRIPT_MISMATCH',
      'unbonding_script_hex is not the unbonding leaf of these keys and committee',
    );
  if (!bytesEqual(unbondingInfo.slashing.script, unbondingSlashingScript)) {
    fail(
      'SIGNER_P2_SCRIPT_MISMATCH',
      'unbonding_slashing_script_hex is not the unbonding output’s slashing leaf of these keys',
    );
  }

  // 6. The staking output is these keys' with a staking time within bounds (E4).
  const stakingTime = await findStakingTime(
    staking.pkScript,
    stakerKey,
    stakingInfo.unbonding.leafHash,
    stakingInfo.slashing.leafHash,
    version,
  );
  if (stakingTime === undefined) {
    fail(
      'SIGNER_P2_STAKING_OUTPUT_MISMATCH',
      `the staking output is not these keys’ with a staking time in [${version.minStakingTimeBlocks}, ${version.maxStakingTimeBlocks}]`,
    );
  }
  stakingInfo = buildStakingInfo(keys, stakingTime);

  // 7. The unbonding tx spends exactly the staking output and pays exactly the expected output
  // (the emulator checks only the fee, E7; the chain the rest).
  assertUnbondingShape(unbondingTx);
  const uIn = unbondingTx.ins[0]!;
  if (hashToTxid(uIn.hash) !== stakingTxid || uIn.index !== stakingVout)
    fail('SIGNER_P2_UNBONDING_WRONG_INPUT', 'the unbonding tx does not spend the staking output');
  const uOut = unbondingTx.outs[0]!;
  if (!bytesEqual(uOut.script, unbondingInfo.pkScript)) {
    fail(
      'SIGNER_P2_UNBONDING_WRONG_OUTPUT',
      `the unbonding output is not these keys’ unbonding output with unbonding time ${version.unbondingTimeBlocks}`,
    );
  }
  if (staking.valueSat - uOut.value !== version.unbondingFeeSat) {
    fail(
      'SIGNER_P2_UNBONDING_FEE_MISMATCH',
      `the unbonding fee is ${staking.valueSat - uOut.value} sat, not the params’ ${version.unbondingFeeSat}`,
    );
  }

  // 8. Both slashing txs against their funding txs (E5, E6).
  assertSlashingTxMatchesFundingTx(slashingTx, stakingTx, stakingVout, stakerKey, version);
  assertSlashingTxMatchesFundingTx(slashUnbondingTx, unbondingTx, 0, stakerKey, version);

  // 9. Stake expansion (§5): the staking tx spends, through its unbonding leaf, a previous staking
  // output of the same staker and finality providers, made under the previous version's committee.
  let expansion: Phase2Plan['expansion'];
  if (body.stake_expansion) {
    const se = body.stake_expansion;
    const prevTx = txField(se.previous_active_stake_tx_hex, 'stake_expansion.previous_active_stake_tx_hex');
    const other = parseTxOut(se.other_funding_output_hex);
    const prevUnbondingScript = scriptField(
      se.previous_active_stake_unbonding_script_hex,
      'stake_expansion.previous_active_stake_unbonding_script_hex',
    );
    const prevTxid = prevTx.getId();
    const prevVout = se.previous_staking_output_idx;
    const prevOut = prevTx.outs[prevVout];
    if (!prevOut || !isP2trScript(prevOut.script)) {
      fail(
        'SIGNER_P2_EXPANSION_PREVIOUS_MISMATCH',
        `previous_staking_output_idx ${prevVout} is not a P2TR output of the previous staking tx`,
      );
    }
    const prevHeight = await inBlockHeight(prevTxid, prevVout);
    if (prevHeight === undefined) {
      fail(
        'SIGNER_P2_EXPANSION_PREVIOUS_UNCONFIRMED',
        `the previous staking tx ${prevTxid} is not in a block of the signer’s node`,
      );
    }
    const prevVersion = selectPhase2Version(ctx.params, prevHeight);
    if (!prevVersion)
      fail(
        'SIGNER_P2_NO_PARAMS_VERSION',
        `no phase-2 params version is in force at BTC height ${prevHeight}`,
      );
    // Emulator F3: our key signs for the previous committee.
    if (!prevVersion.covenantKeys.some((k) => bytesEqual(k, key))) {
      fail(
        'SIGNER_P2_KEY_NOT_IN_COMMITTEE',
        `our key is not in the committee of the previous delegation's params version ${prevVersion.version}`,
      );
    }
    assertCovenantOverlap(prevVersion.covenantKeys, version.covenantKeys, prevVersion.covenantQuorum);
    const prevKeys = {
      stakerKey,
      fpKeys,
      covenantKeys: prevVersion.covenantKeys,
      covenantQuorum: prevVersion.covenantQuorum,
    };
    let prevInfo: StakingInfo;
    try {
      prevInfo = buildStakingInfo(prevKeys, prevVersion.minStakingTimeBlocks);
    } catch (e) {
      return fail(
        'SIGNER_P2_EXPANSION_PREVIOUS_MISMATCH',
        'the previous delegation’s keys do not make a staking script',
        e,
      );
    }
    if (!bytesEqual(prevInfo.unbonding.script, prevUnbondingScript)) {
      fail(
        'SIGNER_P2_EXPANSION_PREVIOUS_MISMATCH',
        'previous_active_stake_unbonding_script_hex is not the previous unbonding leaf of this staker and the previous committee',
      );
    }
    const prevTime = await findStakingTime(
      prevOut!.script,
      stakerKey,
      prevInfo.unbonding.leafHash,
      prevInfo.slashing.leafHash,
      prevVersion,
    );
    if (prevTime === undefined) {
      fail(
        'SIGNER_P2_EXPANSION_PREVIOUS_MISMATCH',
        'the previous staking output is not this staker’s and these finality providers’ staking output',
      );
    }
    prevInfo = buildStakingInfo(prevKeys, prevTime);
    assertStakeExpansionTx(stakingTx, {
      previousStakingTxid: prevTxid,
      previousStakingOutputIndex: prevVout,
      previousStakingValueSat: prevOut!.value,
      otherFundingOutput: other,
      newStakingOutputIndex: stakingVout,
    });
    const previousOutput = { script: prevOut!.script, valueSat: prevOut!.value };
    expansion = {
      previousTxid: prevTxid,
      previousVout: prevVout,
      previousOutput,
      previousUnbondingLeaf: prevInfo.unbonding,
      sighash: stakeExpansionSighash(
        stakingTx,
        { valueSat: prevOut!.value, pkScript: prevOut!.script },
        other,
        prevInfo.unbonding,
      ),
    };
  }

  const txids = {
    slashing: slashingTx.getId(),
    unbonding: unbondingTx.getId(),
    slashUnbonding: slashUnbondingTx.getId(),
  };
  const stakingOutput = { script: staking.pkScript, valueSat: staking.valueSat };
  return {
    key,
    keyHex,
    version,
    stakingTxid,
    stakingVout,
    unbondingTxid: txids.unbonding,
    // An expansion's signature also covers the other funding output, which no txid commits to.
    setId: expansion
      ? `${setIdOf(txids)}/${createHash('sha256').update(body.stake_expansion!.other_funding_output_hex.toLowerCase()).digest('hex')}`
      : setIdOf(txids),
    txids,
    expansion,
    encKeys: fpKeys.map(babylonEncryptionKey),
    slashingSighash: slashingSighash(slashingTx, stakingTx, stakingVout, stakingInfo.slashing),
    unbondingSlashingSighash: slashingSighash(slashUnbondingTx, unbondingTx, 0, unbondingInfo.slashing),
    unbondingSighash: scriptPathSighash(
      unbondingTx,
      0,
      { pkScripts: [staking.pkScript], valuesSat: [staking.valueSat] },
      stakingInfo.unbonding,
    ),
    stakingInfo,
    unbondingInfo,
    unbondingTx,
    stakingOutput,
    stakingTime,
  };
}
