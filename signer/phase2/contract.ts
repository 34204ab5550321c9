// The phase-2 wire contract: the reference's request and response of POST /v1/sign-transactions,
// and what the decision core answers.
/*
 * Phase-2 covenant duties (issue 22): POST /v1/sign-transactions, the reference's
 * babylonlabs-io/covenant-emulator@cdb5178:covenant-signer/signerservice/types/signtransactions.go.
 * The reference signer validates nothing (its emulator does, covenant/covenant.go:87-274); this one
 * re-checks everything the emulator checks, and more, before custody makes a single signature.
 */

/** The reference's request, verbatim JSON tags (signtransactions.go:15-42). */
export interface SignTransactionsRequestBody {
  readonly staking_tx_hex: string;
  readonly slashing_tx_hex: string;
  readonly unbonding_tx_hex: string;
  readonly slash_unbonding_tx_hex: string;
  readonly staking_output_idx: number;
  readonly slashing_script_hex: string;
  readonly unbonding_script_hex: string;
  readonly unbonding_slashing_script_hex: string;
  readonly fp_enc_keys: readonly string[];
  readonly stake_expansion?: {
    readonly previous_active_stake_tx_hex: string;
    readonly other_funding_output_hex: string;
    readonly previous_staking_output_idx: number;
    readonly previous_active_stake_unbonding_script_hex: string;
  };
}

/** The reference's response, verbatim JSON tags (signtransactions.go:229-236); sent inside {"data": …}. */
export interface SignTransactionsResponse {
  readonly slashing_transactions_signatures: string[];
  readonly unbonding_transaction_signature: string;
  readonly slash_unbonding_transactions_signatures: string[];
  /** Always present, "" when no expansion was asked (no omitempty in the reference). */
  readonly stake_expansion_transaction_signature: string;
}

export interface Phase2Outcome {
  readonly response: SignTransactionsResponse;
  readonly outcome: 'signed' | 'repeated';
  readonly paramsVersion: number;
}
