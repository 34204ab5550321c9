import type { Transaction } from 'bitcoinjs-lib';
import { API_CODE_OF_RULE, verifyUnbondingRequest } from '../api/unbonding.ts';
import type { RpcClient } from '../bitcoind/index.ts';
import { isCodedError, toHex } from '../common/index.ts';
import type { Delegation as ApiDelegation } from '../db/index.ts';
import { type GlobalParams, parseGlobalParams } from '../params/index.ts';
import { recheckRequest } from '../pipeline/recheck.ts';
import { SIGNER_CODE_OF_RULE, validateSignRequest } from '../signer/validate.ts';
import type { StakingErrorCode, UnbondingExpectation, UnbondingRequestBody } from '../staking/index.ts';
import { testKey, testParamsDoc } from './keys.ts';

/**
 * The three services that decide on an unbonding request (the API before it stores one, the
 * pipeline before it asks the signers, the signer before it signs), run on one request in memory,
 * each answer mapped back through the service's own table to staking/'s rule code. For the
 * agreement tests of the composite rules (test/*Rule.test.ts).
 */

export const covenants = ['ur-cov-a', 'ur-cov-b', 'ur-cov-c'].map(testKey);
export const fp = testKey('ur-fp');
export const stakers = ['ur-staker-a', 'ur-staker-b'].map(testKey);
export const mallory = testKey('ur-mallory');
export const ACTIVATION = 100;
export const DEPTH = 2;
export const CUTOFF = 5_000;

// Built by hand from parsed params: min_staking_amount 1 sat (params validation would refuse it),
// so that a stake inside the value range can fail the fee-cover rule and every rule is reachable.
const parsed = parseGlobalParams(
  testParamsDoc(covenants, {
    activation_height: ACTIVATION,
    confirmation_depth: DEPTH,
    unbonding_fee: 1_000,
    max_staking_amount: 5_000_000,
    min_staking_time: 5,
    max_staking_time: 1_000,
  }),
);
export const PARAMS: GlobalParams = { versions: [{ ...parsed.versions[0]!, minStakingAmountSat: 1n }] };
export const V0 = PARAMS.versions[0]!;

/** One request as every service receives it, with its place on the chain. */
export interface Case {
  readonly stakingTx: Transaction;
  readonly stakingTxid: string;
  readonly stakingOutputIndex: number;
  readonly stakingScriptHex: string;
  readonly valueSat: bigint;
  readonly stakingTime: number;
  readonly height: number;
  readonly confirmations: number;
  readonly unbondingTx: Transaction;
  readonly signatureHex: string;
}

/** A service's answer as the rule's code ('OK' when it accepts), and the expectation it checked under when it says. */
export interface Outcome {
  readonly verdict: string;
  readonly exp?: UnbondingExpectation;
}

function inverse<K extends string, V extends string>(table: Partial<Record<K, V>>): Map<V, K> {
  return new Map(Object.entries(table).map(([k, v]) => [v as V, k as K]));
}
const fromSigner = inverse(SIGNER_CODE_OF_RULE);
const fromApi = new Map(
  Object.entries(API_CODE_OF_RULE).map(([rule, to]) => [to!.code, rule as StakingErrorCode]),
);

async function outcome(
  run: () => Promise<{ exp?: UnbondingExpectation }> | { exp?: UnbondingExpectation },
  mapBack: (e: unknown) => string,
): Promise<Outcome> {
  try {
    const r = await run();
    return { verdict: 'OK', ...(r.exp ? { exp: r.exp } : {}) };
  } catch (e) {
    return { verdict: mapBack(e) };
  }
}

/** The API's POST /v1/unbonding check (`verifyUnbondingRequest`), with the cutoff set. */
export function apiOutcome(c: Case): Promise<Outcome> {
  const d: ApiDelegation = {
    stakingTxid: c.stakingTxid,
    stakerPkHex: '',
    finalityProviderPkHex: toHex(fp.xOnly),
    stakingValue: Number(c.valueSat),
    state: 'active',
    isOverflow: false,
    stakingTxHex: c.stakingTx.toHex(),
    stakingOutputIndex: c.stakingOutputIndex,
    stakingStartHeight: c.height,
    stakingStartTimestamp: 0,
    stakingTimelock: c.stakingTime,
    stakingExpired: false,
    unbonding: null,
    withdrawTxHashHex: null,
    withdrawHeight: null,
  };
  const body: UnbondingRequestBody = {
    staking_tx_hash_hex: c.stakingTxid,
    unbonding_tx_hash_hex: c.unbondingTx.getId(),
    unbonding_tx_hex: c.unbondingTx.toHex(),
    staker_signed_signature_hex: c.signatureHex,
  };
  return outcome(
    () => {
      verifyUnbondingRequest(d, body, PARAMS, { maxStakingTransactionHeight: CUTOFF });
      return {};
    },
    (e) => {
      // A rule the API names `internal` (the stored delegation is wrong) is a plain error, its cause the rule's.
      const coded = isCodedError(e) ? e : (e as Error).cause;
      if (!isCodedError(coded)) throw e;
      if (!isCodedError(e) && API_CODE_OF_RULE[coded.code as StakingErrorCode]?.code !== 'internal') throw e;
      return fromApi.get(coded.code as never) ?? coded.code;
    },
  );
}

/** The pipeline's re-check (`recheckRequest`) against a node that knows the staking tx. */
export function pipelineOutcome(c: Case): Promise<Outcome> {
  const rpc = {
    getrawtransaction: async (txid: string) => {
      if (txid !== c.stakingTxid) throw new Error(`asked for ${txid}`);
      return { hex: c.stakingTx.toHex(), blockhash: 'bb'.repeat(32), confirmations: c.confirmations };
    },
    getblockheader: async () => ({ height: c.height }),
  } as unknown as RpcClient;
  return outcome(
    () =>
      recheckRequest(
        {
          stakingTxid: c.stakingTxid,
          unbondingTxHex: c.unbondingTx.toHex(),
          stakerSignatureHex: c.signatureHex,
        },
        PARAMS,
        rpc,
      ),
    (e) => {
      if (!isCodedError(e, 'PIPELINE_RECHECK_FAILED')) throw e;
      return String(e.details?.code);
    },
  );
}

/** The signer's validation (`validateSignRequest`) with the cutoff set, holding covenant key 0. */
export function signerOutcome(c: Case): Promise<Outcome> {
  const key = covenants[0]!;
  return outcome(
    () =>
      validateSignRequest(
        {
          staking_output_pk_script_hex: c.stakingScriptHex,
          unbonding_tx_hex: c.unbondingTx.toHex(),
          staker_unbonding_sig_hex: c.signatureHex,
          covenant_public_key: key.compressedHex,
        },
        {
          params: PARAMS,
          heldKeys: new Set([toHex(key.xOnly)]),
          maxStakingTxHeight: CUTOFF,
          chain: {
            getTransaction: async (txid) => {
              if (txid !== c.stakingTxid) throw new Error(`asked for ${txid}`);
              return { hex: c.stakingTx.toHex(), blockhash: 'bb'.repeat(32), confirmations: c.confirmations };
            },
            getBlockHeight: async () => c.height,
          },
        },
      ),
    (e) => {
      if (!isCodedError(e)) throw e;
      return fromSigner.get(e.code as never) ?? e.code;
    },
  );
}
