import { CodedError, isCodedError, parseHex } from '../common/index.ts';
import {
  type Database,
  type Delegation,
  getDelegation,
  getUnbondingRequest,
  insertUnbondingRequest,
  lockDelegation,
  type Queryable,
  updateDelegation,
} from '../db/index.ts';
import type { GlobalParams } from '../params/index.ts';
import {
  assertStakingHeightUnbondable,
  assertUnbondingRequest,
  type CheckedUnbonding,
  parseTransaction,
  type StakingErrorCode,
  type UnbondingRequestBody,
} from '../staking/index.ts';
import type { ApiErrorCode } from './errors.ts';

function fail(code: ApiErrorCode, message: string, cause?: unknown): never {
  throw new CodedError(code, message, cause === undefined ? undefined : { cause });
}

/** How the API words a rule's refusal: its code, and its message when it names its own fields. */
interface ApiRefusal {
  readonly code: ApiErrorCode | 'internal';
  readonly message?: (e: CodedError) => string;
}

/**
 * The one table from the refusals of staking/'s full unbonding check to the API's codes (and, where
 * it words them with the request's field names, its messages); every other STAKING_… code passes
 * through as 403 VALIDATION_ERROR. `internal`: the stored delegation, not the request, is wrong (500).
 */
export const API_CODE_OF_RULE: Readonly<Partial<Record<StakingErrorCode, ApiRefusal>>> = {
  STAKING_TX_ABOVE_MAX_HEIGHT: {
    code: 'API_STAKING_TX_ABOVE_MAX_HEIGHT',
    message: (e) =>
      `the staking transaction is included at height ${e.details?.height}, above the maximum ${e.details?.maxStakingTxHeight} this service unbonds`,
  },
  STAKING_UNBONDING_VALUE_TOO_LOW: { code: 'API_UNBONDING_INVALID' },
  STAKING_UNBONDING_TXID_MISMATCH: {
    code: 'API_UNBONDING_TX_HASH_MISMATCH',
    message: (e) => `unbonding_tx_hash_hex is not the txid of unbonding_tx_hex (${e.details?.txid})`,
  },
  STAKING_UNBONDING_STAKER_SIGNATURE: {
    code: 'API_INVALID_STAKER_SIGNATURE',
    message: () => 'the staker signature does not verify over the unbonding transaction',
  },
  STAKING_NO_PARAMS_FOR_HEIGHT: { code: 'internal' },
};

function asApiError(e: unknown): unknown {
  if (!isCodedError(e)) return e;
  const to = API_CODE_OF_RULE[e.code as StakingErrorCode];
  if (!to) return e;
  if (to.code === 'internal')
    return new Error(`the stored delegation does not hold: ${e.message}`, { cause: e });
  return new CodedError(to.code, to.message ? to.message(e) : e.message, { cause: e });
}

/** Rules beyond the params; 0 turns a rule off. */
export interface UnbondingPolicy {
  /** Stakes included above this height are not unbonded here (the labs max-staking-transaction-height). */
  readonly maxStakingTransactionHeight: number;
}
const NO_POLICY: UnbondingPolicy = { maxStakingTransactionHeight: 0 };

/**
 * Why a delegation cannot be unbonded now, or undefined when it can (state active; overflow
 * delegations are active too and can be unbonded; below the policy's height cutoff, if any).
 */

export async function unbondingRefusal(
  q: Queryable,
  d: Delegation | undefined,
  stakingTxid: string,
  policy: UnbondingPolicy = NO_POLICY,
): Promise<CodedError | undefined> {
  if (!d) return new CodedError<ApiErrorCode>('API_UNBONDING_DELEGATION_NOT_FOUND', 'delegation not found');
  if (d.state === 'active') {
    // The labs covenant signers refuse to sign for stakes included above their cutoff; a request
    // they would refuse is refused here, before the delegation is marked unbonding_requested.
    try {
      assertStakingHeightUnbondable(d.stakingStartHeight, policy.maxStakingTransactionHeight);
    } catch (e) {
      return asApiError(e) as CodedError;
    }
    return undefined;
  }
  if (d.state === 'unbonding_requested' || (await getUnbondingRequest(q, stakingTxid))) {
    return new CodedError<ApiErrorCode>(
      'API_UNBONDING_ALREADY_REQUESTED',
      'an unbonding request for this delegation was already accepted',
    );
  }
  return new CodedError<ApiErrorCode>(
    'API_DELEGATION_NOT_ACTIVE',
    `delegation state is ${d.state}, not active`,
  );
}

/**
 * Checks an unbonding request with staking/'s full unbonding check, the one the covenant signer and
 * the pipeline call, against the delegation as the indexer reported it: the params of the staking
 * height, the staking tx parsed under them, value and time in range, the exact unbonding tx they
 * allow (shape, input, output script and value), its txid, and the staker's BIP340 signature over
 * the unbonding leaf sighash. Pure: the caller has read the delegation.
 * @throws {CodedError} API_INVALID_UNBONDING_TX, API_UNBONDING_TX_HASH_MISMATCH,
 *   API_INVALID_STAKER_SIGNATURE, API_UNBONDING_INVALID, API_STAKING_TX_ABOVE_MAX_HEIGHT, STAKING_… codes
 */
export function verifyUnbondingRequest(
  d: Delegation,
  body: UnbondingRequestBody,
  params: GlobalParams,
  policy: UnbondingPolicy = NO_POLICY,
): { readonly paramsVersion: number } {
  let tx: ReturnType<typeof parseTransaction>;
  try {
    tx = parseTransaction(body.unbonding_tx_hex, 'unbonding_tx_hex');
  } catch (e) {
    fail('API_INVALID_UNBONDING_TX', isCodedError(e) ? e.message : 'unbonding_tx_hex is invalid', e);
  }
  const signature = parseHex(
    body.staker_signed_signature_hex,
    'staker_signed_signature_hex',
    'API_BAD_REQUEST',
    {
      bytes: 64,
    },
  );
  let checked: CheckedUnbonding;
  try {
    checked = assertUnbondingRequest(
      {
        stakingTx: parseTransaction(d.stakingTxHex, 'stored staking tx'),
        unbondingTx: tx,
        stakerSignature: signature,
      },
      params,
      // The depth is not checked here: the indexer reports a delegation only once its block has
      // the params' depth, and the API has no node to ask; the signers check it when they sign.
      { height: d.stakingStartHeight, confirmations: 'not-checked' },
      {
        maxStakingTxHeight: policy.maxStakingTransactionHeight,
        unbondingTxid: body.unbonding_tx_hash_hex,
      },
    );
  } catch (e) {
    throw asApiError(e);
  }
  // The stored staking tx came from the indexer, which identified it under these very params.
  if (checked.data.stakingOutputIndex !== d.stakingOutputIndex) {
    throw new Error(
      `stored staking output index ${d.stakingOutputIndex} is not the staking tx's ${checked.data.stakingOutputIndex}`,
    );
  }
  return { paramsVersion: checked.params.version };
}

/**
 * POST /v1/unbonding: verifies the request, then in one transaction locks the delegation, checks
 * it is still active, stores the request for the pipeline and moves the delegation to
 * `unbonding_requested`. Two concurrent requests for one delegation: the second waits for the
 * row lock, then finds it `unbonding_requested` and is refused.
 * @throws {CodedError} API_UNBONDING_DELEGATION_NOT_FOUND, API_DELEGATION_NOT_ACTIVE,
 *   API_UNBONDING_ALREADY_REQUESTED, and verifyUnbondingRequest's codes
 */
export async function submitUnbonding(
  db: Database,
  params: GlobalParams,
  body: UnbondingRequestBody,
  policy: UnbondingPolicy = NO_POLICY,
): Promise<void> {
  const hash = body.staking_tx_hash_hex;
  const seen = await getDelegation(db, hash);
  const early = await unbondingRefusal(db, seen, hash, policy);
  if (early || !seen) throw early;
  const { paramsVersion } = verifyUnbondingRequest(seen, body, params, policy);
  await db.transaction(async (c) => {
    const d = await lockDelegation(c, hash);
    if (d?.state !== 'active') {
      throw (await unbondingRefusal(c, d, hash, policy)) ?? new Error('unreachable');
    }
    const inserted = await insertUnbondingRequest(c, {
      stakingTxid: hash,
      unbondingTxHashHex: body.unbonding_tx_hash_hex,
      unbondingTxHex: body.unbonding_tx_hex,
      stakerSignatureHex: body.staker_signed_signature_hex,
      stakerPkHex: d.stakerPkHex,
      finalityProviderPkHex: d.finalityProviderPkHex,
      stakingTxHex: d.stakingTxHex,
      stakingOutputIndex: d.stakingOutputIndex,
      stakingValue: d.stakingValue,
      stakingTimelock: d.stakingTimelock,
      stakingStartHeight: d.stakingStartHeight,
      paramsVersion,
    });
    if (!inserted)
      fail(
        'API_UNBONDING_ALREADY_REQUESTED',
        'an unbonding request for this delegation was already accepted',
      );
    if (!(await updateDelegation(c, hash, ['active'], { state: 'unbonding_requested' }))) {
      throw new Error('delegation changed under its row lock');
    }
  });
}
