// The phase-2 wire contract: the reference's request and response of POST /v1/sign-transactions,
// and what the decision core answers.
/*
 * Phase-2 covenant duties (issue 22): POST /v1/sign-transactions, the reference's
 * babylonlabs-io/covenant-emulator@cdb5178:covenant-signer/signerservice/types/signtransactions.go.
 * The reference signer validates nothing (its emulator does, covenant/covenant.go:87-274); this one
 * re-checks everything the emulator checks, and more, before custody makes a single signature.
 */

// The request and response shapes are declared once, in staking/signerApi.ts, with the schema the
// route enforces; every client and test imports them from there.
import type { SignTransactionsResponse } from '../../staking/index.ts';

export interface Phase2Outcome {
  readonly response: SignTransactionsResponse;
  readonly outcome: 'signed' | 'repeated';
  readonly paramsVersion: number;
}
