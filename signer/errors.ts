import { STAKING_ERRORS } from '../staking/index.ts';

/**
 * The signer's own rejection codes. Codes from staking/ (STAKING_…) pass through unchanged. Every
 * code maps to one HTTP status; the body keeps the reference's `{errorCode, message}` shape, with
 * our finer code in `code`. Documented in signer/README.md (a test checks).
 */
export const SIGNER_ERRORS = {
  SIGNER_BAD_REQUEST_BODY: [
    400,
    'The body is not JSON of the expected shape (fields, types, hex patterns, lengths).',
  ],
  SIGNER_INVALID_STAKING_OUTPUT_SCRIPT: [400, 'staking_output_pk_script_hex is not a 34-byte P2TR script.'],
  SIGNER_INVALID_COVENANT_KEY: [400, 'covenant_public_key is not a 33-byte compressed secp256k1 key.'],
  SIGNER_INVALID_UNBONDING_TX: [400, 'unbonding_tx_hex does not deserialize as one transaction.'],
  SIGNER_INVALID_STAKER_SIGNATURE: [
    400,
    'staker_unbonding_sig_hex is not a 64-byte signature, or it does not verify.',
  ],
  SIGNER_INVALID_STAKING_TX: [
    400,
    'staking_tx_hex does not deserialize, or its txid is not the one the unbonding tx spends.',
  ],
  SIGNER_KEY_NOT_HELD: [400, 'This signer does not hold the requested covenant key.'],
  SIGNER_KEY_NOT_IN_PARAMS: [
    400,
    'The requested covenant key, compared as the full 33-byte compressed key, is not in the covenant set of the params version that applies.',
  ],
  SIGNER_STAKING_TX_NOT_FOUND: [400, 'The staking transaction is not known to the signer’s node.'],
  SIGNER_STAKING_TX_UNCONFIRMED: [400, 'The staking transaction is not in a block of the main chain.'],
  SIGNER_STAKING_TX_ABOVE_MAX_HEIGHT: [
    400,
    'The staking transaction is included above this signer’s policy.max_staking_transaction_height.',
  ],
  SIGNER_NOT_ENOUGH_CONFIRMATIONS: [
    400,
    'The staking transaction has fewer confirmations than the params require.',
  ],
  SIGNER_NO_PARAMS_FOR_HEIGHT: [
    400,
    'No params version applies at the staking transaction’s inclusion height.',
  ],
  SIGNER_NOT_A_STAKING_TX: [
    400,
    'The spent transaction does not parse as a staking transaction under the params.',
  ],
  SIGNER_STAKING_OUTPUT_MISMATCH: [
    400,
    'staking_output_pk_script_hex is not the staking output the unbonding tx spends.',
  ],
  SIGNER_ALREADY_SIGNED_OTHER: [
    409,
    'This signer already signed a different unbonding transaction for this staking output.',
  ],
  // Phase 2: POST /v1/sign-transactions.
  SIGNER_P2_INVALID_TX: [400, 'A transaction of a phase-2 request does not deserialize.'],
  SIGNER_P2_INVALID_ENC_KEY: [400, 'An fp_enc_keys entry is not a 33-byte compressed secp256k1 point.'],
  SIGNER_P2_FP_KEYS_MISMATCH: [
    400,
    'fp_enc_keys is empty, repeats a key, or is not one key per finality provider of the slashing script.',
  ],
  SIGNER_P2_EXPANSION_PREVIOUS_MISMATCH: [
    400,
    'stake_expansion does not name a staking output of this staker and these finality providers under the previous committee, or its unbonding script is not that output’s.',
  ],
  SIGNER_P2_EXPANSION_PREVIOUS_UNCONFIRMED: [
    400,
    'The previous staking tx of a stake expansion is not in a block of the signer’s node.',
  ],
  SIGNER_P2_EXPANSION_ALREADY_SIGNED_OTHER: [
    409,
    'This signer already signed a different stake-expansion tx spending this previous staking output.',
  ],
  SIGNER_P2_NO_PARAMS_VERSION: [
    400,
    'No phase-2 params version is in force at the staking tx’s inclusion height (or the tip, if it is not in a block).',
  ],
  SIGNER_P2_KEY_NOT_IN_COMMITTEE: [
    400,
    'No key this signer holds is in the covenant committee of the phase-2 params version that applies.',
  ],
  SIGNER_P2_STAKING_VALUE_OUT_OF_BOUNDS: [
    400,
    'The staking output’s value is outside the params’ min/max staking value.',
  ],
  SIGNER_P2_SCRIPT_MISMATCH: [
    400,
    'A script of the request is not the leaf the staker, finality-provider and committee keys make.',
  ],
  SIGNER_P2_STAKING_OUTPUT_MISMATCH: [
    400,
    'staking_output_idx is out of range, or that output is not the keys’ staking output with a staking time within the params’ bounds.',
  ],
  SIGNER_P2_UNBONDING_WRONG_INPUT: [400, 'The unbonding tx does not spend the staking output.'],
  SIGNER_P2_UNBONDING_WRONG_OUTPUT: [
    400,
    'The unbonding tx does not pay the unbonding output of these keys with the params’ unbonding time.',
  ],
  SIGNER_P2_UNBONDING_FEE_MISMATCH: [
    400,
    'The unbonding fee (staking value minus unbonding output) is not exactly the params’ unbonding_fee_sat.',
  ],
  SIGNER_P2_ALREADY_SIGNED_OTHER: [
    409,
    'This signer already signed a different set of slashing, unbonding and unbonding-slashing txs for this staking output.',
  ],
  SIGNER_P2_UNBONDING_DISAGREES: [
    409,
    'This signer already signed (in phase 1 or 2) a different unbonding tx for this staking output.',
  ],
  SIGNER_P2_CUSTODY_UNSUPPORTED: [
    500,
    'Phase 2 is enabled but the custody backend cannot make adaptor signatures (bitcoind-wallet); the signer does not start.',
  ],
  SIGNER_LOCKED: [
    500,
    'The signer is locked (POST /v1/lock): it signs nothing until POST /v1/unlock. 500 as the reference answers a locked key.',
  ],
  SIGNER_UNLOCK_FAILED: [400, 'POST /v1/unlock was refused: wrong passphrase or PIN.'],
  SIGNER_LOCK_UNSUPPORTED: [
    400,
    'The custody backend has no lock (bitcoind-wallet: lock the wallet itself).',
  ],
  SIGNER_HMAC_MISSING: [401, 'phase2.hmac is configured and the request has no X-Covenant-HMAC header.'],
  SIGNER_HMAC_INVALID: [
    401,
    'X-Covenant-HMAC does not verify, or X-Covenant-Timestamp / X-Covenant-Nonce are malformed or only one is set.',
  ],
  SIGNER_HMAC_STALE: [
    401,
    'X-Covenant-Timestamp is outside phase2.hmac.window_seconds of the signer’s clock.',
  ],
  SIGNER_HMAC_REPLAY: [401, 'This X-Covenant-Nonce was already used within the window: a replayed request.'],
  SIGNER_HMAC_BODY_ONLY_REFUSED: [
    401,
    'A body-only X-Covenant-HMAC (no timestamp and nonce) is refused unless phase2.hmac.allow_body_only_hmac is true.',
  ],
  SIGNER_NOT_FOUND: [404, 'No such route.'],
  SIGNER_BODY_TOO_LARGE: [413, 'The request body is larger than the configured limit.'],
  SIGNER_UNSUPPORTED_MEDIA_TYPE: [415, 'The request body is not of content type application/json.'],
  SIGNER_RATE_LIMITED: [429, 'This client sent more requests than its rate limit allows; retry later.'],
  SIGNER_BUSY: [503, 'The signer is at its concurrency limit; retry later.'],
  SIGNER_DEPENDENCY_UNAVAILABLE: [503, 'The signer’s Bitcoin node is unreachable or failing; retry later.'],
  SIGNER_CUSTODY_UNAVAILABLE: [503, 'The key custody backend is unreachable or locked; retry later.'],
  SIGNER_SHUTTING_DOWN: [503, 'The signer is shutting down.'],
  SIGNER_INTERNAL: [
    500,
    'Internal service error (details are in the signer’s log under the correlation id).',
  ],
  // The audit log (start-up, verify-audit and accept-audit-log; a caller only ever sees a 500).
  SIGNER_AUDIT_CORRUPT: [
    500,
    'A record of the audit log does not parse, does not chain, or its MAC does not verify under custody’s audit key.',
  ],
  SIGNER_AUDIT_ROLLBACK: [
    500,
    'The audit log is shorter than, or diverges from, the head sealed in custody (truncated, or an older copy restored), or that anchor is missing or forged.',
  ],
  SIGNER_AUDIT_UNKEYED: [
    500,
    'The audit log was written by an older version without MACs and has not been accepted with accept-audit-log.',
  ],
  SIGNER_AUDIT_UNREADABLE: [500, 'The audit log file is missing or cannot be read.'],
  SIGNER_AUDIT_UNWRITABLE: [
    500,
    'The audit log cannot be opened, written, synced, MACed or anchored; the signer signs nothing more.',
  ],
} as const satisfies Record<string, readonly [number, string]>;

export type SignerErrorCode = keyof typeof SIGNER_ERRORS;

/** HTTP status for any code the signer can answer with; staking/ codes are the caller's mistakes. */
export function httpStatusOf(code: string): number {
  if (code in SIGNER_ERRORS) return SIGNER_ERRORS[code as SignerErrorCode][0];
  if (code in STAKING_ERRORS) return 400;
  return 500;
}

/** The reference's wire code for a status (covenant-signer signerservice/types/error.go). */
export function referenceErrorCode(status: number): string {
  switch (status) {
    case 400:
      return 'BAD_REQUEST';
    case 401:
      return 'UNAUTHORIZED';
    case 404:
      return 'NOT_FOUND';
    case 409:
      return 'FORBIDDEN';
    case 413:
      return 'REQUEST_ENTITY_TOO_LARGE';
    case 415:
      // The reference has no 415 of its own; a body it cannot read is its BAD_REQUEST.
      return 'BAD_REQUEST';
    case 429:
      return 'TOO_MANY_REQUESTS';
    case 503:
      return 'SERVICE_UNAVAILABLE';
    default:
      return 'INTERNAL_SERVICE_ERROR';
  }
}
