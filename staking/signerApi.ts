import type { SchemaType } from '../common/index.ts';

/*
 * The covenant signer's wire contract, declared once: the JSON schemas the signer enforces (fastify
 * hands them to Ajv) and the TypeScript types every sender and reader derives from them. Field
 * names are the reference's verbatim JSON tags (babylonlabs-io/covenant-signer
 * signerservice/types/sign_unbonding.go and error.go; covenant-emulator
 * covenant-signer/signerservice/types/signtransactions.go). What the schemas leave to the signer's
 * checks on purpose: hex and key contents, so a bad field gets its own SIGNER_… code rather than a
 * generic schema refusal.
 */

/** Any hex field of a request; its contents are the signer's to check. */
const HEX = { type: 'string', maxLength: 200_000 } as const;
const OUTPUT_INDEX = { type: 'integer', minimum: 0, maximum: 4_294_967_295 } as const;
const SCRIPT_HEX = { type: 'string', minLength: 2, maxLength: 20_000 } as const;

/** Phase 1: the covenant signature of an unbonding transaction. */
export const SIGN_UNBONDING_PATH = '/v1/sign-unbonding-tx';

/** The reference's request body, plus our optional `staking_tx_hex`. */
export const SIGN_UNBONDING_REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [
    'staking_output_pk_script_hex',
    'unbonding_tx_hex',
    'staker_unbonding_sig_hex',
    'covenant_public_key',
  ],
  properties: {
    staking_output_pk_script_hex: HEX,
    unbonding_tx_hex: HEX,
    staker_unbonding_sig_hex: HEX,
    /** 33-byte compressed hex, as the params list it. */
    covenant_public_key: HEX,
    /** Ours, optional: the staking tx itself, so the staker signature is checked before any lookup. */
    staking_tx_hex: HEX,
  },
} as const;
export type SignUnbondingRequestBody = SchemaType<typeof SIGN_UNBONDING_REQUEST_SCHEMA>;

/** The answer to a signed request: the 64-byte BIP340 signature, hex. */
export const SIGN_UNBONDING_RESPONSE_SCHEMA = {
  type: 'object',
  required: ['data'],
  properties: {
    data: {
      type: 'object',
      required: ['signature_hex'],
      properties: { signature_hex: { type: 'string' } },
    },
  },
} as const;
export type SignUnbondingResponse = SchemaType<typeof SIGN_UNBONDING_RESPONSE_SCHEMA>;

/** Phase 2: the covenant's slashing, unbonding and stake-expansion signatures of one delegation. */
export const SIGN_TRANSACTIONS_PATH = '/v1/sign-transactions';

/** The reference's request (signtransactions.go:15-42); unknown fields are refused, as in phase 1. */
export const SIGN_TRANSACTIONS_REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [
    'staking_tx_hex',
    'slashing_tx_hex',
    'unbonding_tx_hex',
    'slash_unbonding_tx_hex',
    'staking_output_idx',
    'slashing_script_hex',
    'unbonding_script_hex',
    'unbonding_slashing_script_hex',
    'fp_enc_keys',
  ],
  properties: {
    staking_tx_hex: HEX,
    slashing_tx_hex: HEX,
    unbonding_tx_hex: HEX,
    slash_unbonding_tx_hex: HEX,
    staking_output_idx: OUTPUT_INDEX,
    slashing_script_hex: SCRIPT_HEX,
    unbonding_script_hex: SCRIPT_HEX,
    unbonding_slashing_script_hex: SCRIPT_HEX,
    fp_enc_keys: { type: 'array', maxItems: 16, items: { type: 'string', maxLength: 66 } },
    stake_expansion: {
      type: 'object',
      additionalProperties: false,
      required: [
        'previous_active_stake_tx_hex',
        'other_funding_output_hex',
        'previous_staking_output_idx',
        'previous_active_stake_unbonding_script_hex',
      ],
      properties: {
        previous_active_stake_tx_hex: HEX,
        other_funding_output_hex: HEX,
        previous_staking_output_idx: OUTPUT_INDEX,
        previous_active_stake_unbonding_script_hex: HEX,
      },
    },
  },
} as const;
export type SignTransactionsRequestBody = SchemaType<typeof SIGN_TRANSACTIONS_REQUEST_SCHEMA>;

/**
 * The reference's response (signtransactions.go:229-236), sent inside `{"data": …}`.
 * `stake_expansion_transaction_signature` is always present, "" when no expansion was asked (the
 * reference has no omitempty on it).
 */
export const SIGN_TRANSACTIONS_RESULT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [
    'slashing_transactions_signatures',
    'unbonding_transaction_signature',
    'slash_unbonding_transactions_signatures',
    'stake_expansion_transaction_signature',
  ],
  properties: {
    slashing_transactions_signatures: { type: 'array', items: { type: 'string' } },
    unbonding_transaction_signature: { type: 'string' },
    slash_unbonding_transactions_signatures: { type: 'array', items: { type: 'string' } },
    stake_expansion_transaction_signature: { type: 'string' },
  },
} as const;
export type SignTransactionsResponse = SchemaType<typeof SIGN_TRANSACTIONS_RESULT_SCHEMA>;

export const SIGN_TRANSACTIONS_RESPONSE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['data'],
  properties: { data: SIGN_TRANSACTIONS_RESULT_SCHEMA },
} as const;

/**
 * Every refusal, on every route: the reference's `errorCode` (its coarse wire code, e.g.
 * BAD_REQUEST) and `message` (error.go), plus ours, `code`, the precise SIGNER_… code. A client
 * of a reference signer sees no `code`.
 */
export const SIGNER_ERROR_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['errorCode', 'message'],
  properties: {
    errorCode: { type: 'string' },
    message: { type: 'string' },
    code: { type: 'string' },
  },
} as const;
export type SignerErrorBody = SchemaType<typeof SIGNER_ERROR_SCHEMA>;
