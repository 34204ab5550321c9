import type { SchemaType } from '../common/index.ts';

/*
 * The staking API's unbonding request, declared once: the body schema the API enforces (fastify
 * hands it to Ajv, and it appears in the OpenAPI document) and the type the dashboard sends and the
 * API reads, derived from it. Field names are the reference staking-api-service's JSON tags
 * (backend-services.md §3.3, §3.5). Hex of any case is accepted, as the reference's Go decoder
 * does; the API lowercases these fields before validation.
 */

/** A 32-byte hash as the API takes it in: hex of any case. */
export const HASH_IN = {
  type: 'string',
  pattern: '^[0-9a-fA-F]{64}$',
  description: 'hex, 32 bytes, any case',
} as const;

/** POST /v1/unbonding. */
export const UNBONDING_REQUEST_PATH = '/v1/unbonding';

export const UNBONDING_REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [
    'staking_tx_hash_hex',
    'unbonding_tx_hash_hex',
    'unbonding_tx_hex',
    'staker_signed_signature_hex',
  ],
  properties: {
    staking_tx_hash_hex: HASH_IN,
    unbonding_tx_hash_hex: HASH_IN,
    unbonding_tx_hex: {
      type: 'string',
      minLength: 2,
      maxLength: 2000,
      pattern: '^(?:[0-9a-fA-F]{2})+$',
    },
    staker_signed_signature_hex: {
      type: 'string',
      pattern: '^[0-9a-fA-F]{128}$',
      description: 'BIP340 signature (64 bytes) over the unbonding leaf sighash',
    },
  },
} as const;

/** The body of POST /v1/unbonding. */
export type UnbondingRequestBody = SchemaType<typeof UNBONDING_REQUEST_SCHEMA>;
