import type { Transaction } from 'bitcoinjs-lib';
import {
  bytesEqual,
  CodedError,
  hashToTxid,
  isCodedError,
  parseCompressedKey,
  parseHex,
  toHex,
  type XOnlyKey,
  xOnlyOf,
} from '../common/index.ts';
import { type GlobalParams, type ParamsVersion, selectParamsForHeight } from '../params/index.ts';
import {
  assertStakingTxInRange,
  assertUnbondingShape,
  assertUnbondingTx,
  expectUnbonding,
  isP2trScript,
  parseStakingTx,
  parseTransaction,
  type SignUnbondingRequestBody,
  type StakingTxData,
  type UnbondingExpectation,
  unbondingSighash,
  verifySchnorr,
} from '../staking/index.ts';
import type { ChainView } from './chain.ts';

/** Everything the signer needs once a request has passed every check. */
export interface SignPlan {
  readonly key: XOnlyKey;
  readonly keyHex: string;
  readonly stakingTxid: string;
  readonly stakingVout: number;
  readonly unbondingTx: Transaction;
  readonly unbondingTxid: string;
  readonly params: ParamsVersion;
  readonly data: StakingTxData;
  readonly exp: UnbondingExpectation;
  readonly sighash: Uint8Array;
}

export interface ValidationContext {
  readonly params: GlobalParams;
  readonly chain: ChainView;
  /** x-only hex of the keys custody holds. */
  readonly heldKeys: ReadonlySet<string>;
  /** Stakes included above this height are refused (the labs signer's cutoff); absent or 0: none. */
  readonly maxStakingTxHeight?: number;
}

/** What the audit log should know about a request that failed part-way. */
export interface PartialFacts {
  stakingTxid?: string;
  stakingVout?: number;
  unbondingTxid?: string;
  paramsVersion?: number;
  keyHex?: string;
}

function fail(code: string, message: string, cause?: unknown): never {
  throw new CodedError(code, message, cause === undefined ? undefined : { cause });
}

/**
 * Decides whether a request may be signed, in the order that makes a bad request cheapest: first
 * everything that needs nothing but the request (shapes, key held, key in some params version),
 * then the staker's signature (the only proof the staker asked for this) before any confirmation
 * lookup, then the chain (inclusion, depth) and the params of the inclusion height, then the exact
 * unbonding checks under those params. `facts` is filled as the request is understood, for the
 * audit record of a refusal.
 * @throws {CodedError} SIGNER_… or STAKING_… codes
 */
export async function validateSignRequest(
  body: SignUnbondingRequestBody,
  ctx: ValidationContext,
  facts: PartialFacts = {},
): Promise<SignPlan> {
  // 1. Parse: every field to typed bytes.
  const stakingScript = parseHex(
    body.staking_output_pk_script_hex,
    'staking_output_pk_script_hex',
    'SIGNER_INVALID_STAKING_OUTPUT_SCRIPT',
  );
  if (!isP2trScript(stakingScript))
    fail(
      'SIGNER_INVALID_STAKING_OUTPUT_SCRIPT',
      'staking_output_pk_script_hex must be a P2TR script (OP_1 <32 bytes>)',
    );
  const compressed = parseCompressedKey(
    body.covenant_public_key,
    'covenant_public_key',
    'SIGNER_INVALID_COVENANT_KEY',
  );
  // Custody and the anti-replay memory know the x-only key; the params membership test compares
  // the whole 33-byte key as published, as the reference does, so 02X and 03X are not one member.
  const key = xOnlyOf(compressed);
  const keyHex = toHex(key);
  const listsKey = (v: ParamsVersion) => v.covenantPks.some((k) => bytesEqual(k, compressed));
  facts.keyHex = keyHex;
  let tx: Transaction;
  try {
    tx = parseTransaction(body.unbonding_tx_hex, 'unbonding_tx_hex');
  } catch (e) {
    if (isCodedError(e, 'STAKING_TX_NONCANONICAL_VARINT')) throw e;
    fail('SIGNER_INVALID_UNBONDING_TX', isCodedError(e) ? e.message : 'unbonding_tx_hex is invalid', e);
  }
  const stakerSig = parseHex(
    body.staker_unbonding_sig_hex,
    'staker_unbonding_sig_hex',
    'SIGNER_INVALID_STAKER_SIGNATURE',
    { bytes: 64 },
  );

  // 2. The unbonding tx's shape, and what it spends.
  assertUnbondingShape(tx);
  const unbondingTxid = tx.getId();
  const stakingTxid = hashToTxid(tx.ins[0]!.hash);
  const stakingVout = tx.ins[0]!.index;
  Object.assign(facts, { unbondingTxid, stakingTxid, stakingVout });

  // 3. This signer holds the key, and some params version lists it.
  if (!ctx.heldKeys.has(keyHex))
    fail('SIGNER_KEY_NOT_HELD', `this signer does not hold covenant key ${keyHex}`);
  const listing = ctx.params.versions.filter(listsKey);
  if (listing.length === 0) {
    const otherParity = ctx.params.versions.some((v) => v.covenantKeys.some((k) => bytesEqual(k, key)));
    fail(
      'SIGNER_KEY_NOT_IN_PARAMS',
      otherParity
        ? `covenant key ${toHex(compressed)} is in no params version: they list its x-only key with the other parity byte, and the full 33-byte key must match`
        : `covenant key ${toHex(compressed)} is in no params version`,
    );
  }

  // 4. The staking tx: from the request when given (no lookup yet), else from the node (txindex).
  let stakingTx: Transaction;
  let onChain: Awaited<ReturnType<ChainView['getTransaction']>> | undefined;
  if (body.staking_tx_hex !== undefined) {
    try {
      stakingTx = parseTransaction(body.staking_tx_hex, 'staking_tx_hex');
    } catch (e) {
      if (isCodedError(e, 'STAKING_TX_NONCANONICAL_VARINT')) throw e;
      fail('SIGNER_INVALID_STAKING_TX', isCodedError(e) ? e.message : 'staking_tx_hex is invalid', e);
    }
    if (stakingTx.getId() !== stakingTxid) {
      fail(
        'SIGNER_INVALID_STAKING_TX',
        `staking_tx_hex has txid ${stakingTx.getId()}, but the unbonding tx spends ${stakingTxid}`,
      );
    }
  } else {
    onChain = await ctx.chain.getTransaction(stakingTxid);
    stakingTx = parseTransaction(onChain.hex, 'staking tx from the node');
  }

  // 5. The staker's signature, under each params version that lists the key (the inclusion height,
  //    hence the exact version, is not known yet). None verifying is a refusal before any further lookup.
  let anyParsed: unknown;
  let verified = false;
  // What step 5 established per version, so step 8 need not redo the curve work for the same one.
  const checked = new Map<number, { data: StakingTxData; exp: UnbondingExpectation; sighash: Uint8Array }>();
  for (const v of listing) {
    let d: StakingTxData;
    try {
      d = parseStakingTx(stakingTx, v);
    } catch (e) {
      anyParsed ??= e;
      continue;
    }
    anyParsed = true;
    if (d.stakingOutputIndex !== stakingVout) {
      fail(
        'STAKING_UNBONDING_WRONG_INPUT',
        `the unbonding tx spends output ${stakingVout}; the staking output is ${d.stakingOutputIndex}`,
      );
    }
    if (d.valueSat - v.unbondingFeeSat <= 0n) continue;
    const exp = expectUnbonding(stakingTxid, d, v);
    const sighash = unbondingSighash(tx, exp);
    if (verifySchnorr(sighash, d.stakerKey, stakerSig)) {
      checked.set(v.version, { data: d, exp, sighash });
      verified = true;
      break;
    }
  }
  if (anyParsed !== true) {
    const e = anyParsed;
    fail(
      'SIGNER_NOT_A_STAKING_TX',
      `tx ${stakingTxid} is not a staking tx: ${isCodedError(e) ? e.message : 'unparsable'}`,
      e,
    );
  }
  if (!verified)
    fail('SIGNER_INVALID_STAKER_SIGNATURE', 'the staker signature does not verify over the unbonding tx');

  // 6. Inclusion and depth, from the signer's own node.
  onChain ??= await ctx.chain.getTransaction(stakingTxid);
  const { blockhash, confirmations } = onChain;
  if (!blockhash) fail('SIGNER_STAKING_TX_UNCONFIRMED', `staking tx ${stakingTxid} is not in a block`);
  if (confirmations < 1)
    fail('SIGNER_STAKING_TX_UNCONFIRMED', `staking tx ${stakingTxid} is not on the main chain`);
  const pos = { height: await ctx.chain.getBlockHeight(blockhash), confirmations };
  if (ctx.maxStakingTxHeight && pos.height > ctx.maxStakingTxHeight) {
    fail(
      'SIGNER_STAKING_TX_ABOVE_MAX_HEIGHT',
      `staking tx ${stakingTxid} is included at height ${pos.height}, above this signer's max_staking_transaction_height ${ctx.maxStakingTxHeight}`,
    );
  }

  // 7. Params by inclusion height; the key in that version; enough confirmations for it.
  const params = selectParamsForHeight(ctx.params, pos.height);
  if (!params) fail('SIGNER_NO_PARAMS_FOR_HEIGHT', `no params version applies at height ${pos.height}`);
  facts.paramsVersion = params.version;
  if (!listsKey(params)) {
    fail(
      'SIGNER_KEY_NOT_IN_PARAMS',
      `covenant key ${toHex(compressed)} is not in params version ${params.version}`,
    );
  }
  if (pos.confirmations < params.confirmationDepth) {
    fail(
      'SIGNER_NOT_ENOUGH_CONFIRMATIONS',
      `staking tx has ${pos.confirmations} confirmations, params version ${params.version} requires ${params.confirmationDepth}`,
    );
  }

  // 8. A staking tx under exactly those params, the output spent is its staking output and is the
  //    script the caller named, value and time in range, and the unbonding tx exactly as expected.
  const prior = checked.get(params.version);
  let data: StakingTxData;
  if (prior) {
    data = prior.data;
  } else {
    try {
      data = parseStakingTx(stakingTx, params);
    } catch (e) {
      fail(
        'SIGNER_NOT_A_STAKING_TX',
        `tx ${stakingTxid} is not a staking tx under params version ${params.version}: ${(e as Error).message}`,
        e,
      );
    }
  }
  if (data.stakingOutputIndex !== stakingVout) {
    fail(
      'STAKING_UNBONDING_WRONG_INPUT',
      `the unbonding tx spends output ${stakingVout}; the staking output is ${data.stakingOutputIndex}`,
    );
  }
  if (!bytesEqual(stakingScript, data.stakingInfo.pkScript)) {
    fail(
      'SIGNER_STAKING_OUTPUT_MISMATCH',
      'staking_output_pk_script_hex is not the script of the staking output',
    );
  }
  assertStakingTxInRange(data, params);
  const exp = prior?.exp ?? expectUnbonding(stakingTxid, data, params);
  assertUnbondingTx(tx, exp);
  // The signature was verified in step 5 under this very version, or is verified now under it.
  const sighash = prior?.sighash ?? unbondingSighash(tx, exp);
  if (!prior && !verifySchnorr(sighash, data.stakerKey, stakerSig)) {
    fail(
      'SIGNER_INVALID_STAKER_SIGNATURE',
      'the staker signature does not verify under the params of the inclusion height',
    );
  }
  return {
    key,
    keyHex,
    stakingTxid,
    stakingVout,
    unbondingTx: tx,
    unbondingTxid,
    params,
    data,
    exp,
    sighash,
  };
}
