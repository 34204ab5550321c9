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
import type { GlobalParams, ParamsVersion } from '../params/index.ts';
import {
  assertUnbondingShape,
  type CheckedUnbonding,
  isP2trScript,
  parseTransaction,
  type SignUnbondingRequestBody,
  type StakingErrorCode,
  type StakingTxData,
  txidOf,
  UnbondingCheck,
  type UnbondingExpectation,
} from '../staking/index.ts';
import type { ChainView } from './chain.ts';
import type { SignerErrorCode } from './errors.ts';

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
 * The signer's codes for the refusals of staking/'s full unbonding check that the reference signer
 * names itself; every other STAKING_… code passes through unchanged.
 */
export const SIGNER_CODE_OF_RULE: Readonly<Partial<Record<StakingErrorCode, SignerErrorCode>>> = {
  STAKING_TX_ABOVE_MAX_HEIGHT: 'SIGNER_STAKING_TX_ABOVE_MAX_HEIGHT',
  STAKING_NO_PARAMS_FOR_HEIGHT: 'SIGNER_NO_PARAMS_FOR_HEIGHT',
  STAKING_COVENANT_KEY_NOT_IN_PARAMS: 'SIGNER_KEY_NOT_IN_PARAMS',
  STAKING_NOT_ENOUGH_CONFIRMATIONS: 'SIGNER_NOT_ENOUGH_CONFIRMATIONS',
  STAKING_NOT_A_STAKING_TX: 'SIGNER_NOT_A_STAKING_TX',
  STAKING_OUTPUT_SCRIPT_MISMATCH: 'SIGNER_STAKING_OUTPUT_MISMATCH',
  STAKING_UNBONDING_STAKER_SIGNATURE: 'SIGNER_INVALID_STAKER_SIGNATURE',
};

function asSignerError(e: unknown): unknown {
  if (!isCodedError(e)) return e;
  const code = SIGNER_CODE_OF_RULE[e.code as StakingErrorCode];
  return code ? new CodedError(code, e.message, { cause: e }) : e;
}

/**
 * Decides whether a request may be signed, in the order that makes a bad request cheapest: first
 * everything that needs nothing but the request (shapes, key held, key in some params version),
 * then the staker's signature (the only proof the staker asked for this) before any confirmation
 * lookup is read (a request carrying its staking tx has the cheap one asked meanwhile, step 4), then
 * the chain (inclusion, depth) and the params of the inclusion height, then the exact unbonding
 * checks under those params. `facts` is filled as the request is understood, for the
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
  const unbondingTxid = txidOf(tx);
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

  // 4. The staking tx: from the request when given, else from the node (txindex). A request that
  //    carries it is placed by one gettxout of the output it names (step 6), asked now so that the
  //    node answers while steps 4 and 5 run: the answer is only read after the staker's signature
  //    verified, and a request refused before then costs the node that one call, never a signature.
  let stakingTx: Transaction;
  let onChain: Awaited<ReturnType<ChainView['getTransaction']>> | undefined;
  let unspentAsked: ReturnType<NonNullable<ChainView['getUnspentInclusion']>> | undefined;
  if (body.staking_tx_hex !== undefined) {
    unspentAsked = ctx.chain.getUnspentInclusion?.(stakingTxid, stakingVout);
    // Read at step 6, or never if an earlier step refuses: a failure then is not this request's answer.
    unspentAsked?.catch(() => undefined);
    try {
      stakingTx = parseTransaction(body.staking_tx_hex, 'staking_tx_hex');
    } catch (e) {
      if (isCodedError(e, 'STAKING_TX_NONCANONICAL_VARINT')) throw e;
      fail('SIGNER_INVALID_STAKING_TX', isCodedError(e) ? e.message : 'staking_tx_hex is invalid', e);
    }
    const given = txidOf(stakingTx);
    if (given !== stakingTxid) {
      fail(
        'SIGNER_INVALID_STAKING_TX',
        `staking_tx_hex has txid ${given}, but the unbonding tx spends ${stakingTxid}`,
      );
    }
  } else {
    onChain = await ctx.chain.getTransaction(stakingTxid);
    stakingTx = onChain.parse?.() ?? parseTransaction(onChain.hex, 'staking tx from the node');
  }

  // 5. The staker's signature, under each params version that lists the key (the inclusion height,
  //    hence the exact version, is not known yet). None verifying is a refusal before any further lookup.
  //    The check remembers what it established per version, so step 7 does no curve work twice.
  const check = new UnbondingCheck({ stakingTx, unbondingTx: tx, stakerSignature: stakerSig });
  let anyParsed: unknown;
  let verified = false;
  for (const v of listing) {
    let signed: boolean;
    try {
      signed = check.stakerSignedUnder(v);
    } catch (e) {
      if (!isCodedError(e, 'STAKING_NOT_A_STAKING_TX')) throw e;
      anyParsed ??= e.cause;
      continue;
    }
    anyParsed = true;
    if (signed) {
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

  // 6. Inclusion and depth, from the signer's own node. A staking tx the request carried is found
  //    in the node's UTXO set while its staking output is unspent (one cheap call: the txid commits to
  //    the tx, and the coin's height and the tip come from one instant); otherwise, and for every
  //    spent, unconfirmed or unknown output, from the tx itself, as the reference does.
  const unspent = await unspentAsked;
  let height: number;
  let confirmations: number;
  if (unspent) ({ height, confirmations } = unspent);
  else {
    onChain ??= await ctx.chain.getTransaction(stakingTxid);
    const { blockhash } = onChain;
    if (!blockhash) fail('SIGNER_STAKING_TX_UNCONFIRMED', `staking tx ${stakingTxid} is not in a block`);
    if (onChain.confirmations < 1)
      fail('SIGNER_STAKING_TX_UNCONFIRMED', `staking tx ${stakingTxid} is not on the main chain`);
    confirmations = onChain.confirmations;
    height = await ctx.chain.getBlockHeight(blockhash);
  }

  // 7. staking/'s full check, the one the API and the pipeline call too: the cutoff, params by
  //    inclusion height, the key in that version, the depth, the staking output spent and named,
  //    value and time in range, the exact unbonding tx, the staker's signature under that version.
  let checked: CheckedUnbonding;
  try {
    checked = check.assert(
      ctx.params,
      { height, confirmations },
      {
        maxStakingTxHeight: ctx.maxStakingTxHeight,
        covenantPk: compressed,
        stakingOutputPkScript: stakingScript,
        onParams: (v) => {
          facts.paramsVersion = v.version;
        },
      },
    );
  } catch (e) {
    throw asSignerError(e);
  }
  const { params, data, exp, sighash } = checked;
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
