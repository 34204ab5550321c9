/**
 * The API's rejection codes: each maps to one HTTP status and the reference's wire code
 * (`errorCode` in the body, staking-api-service types/error.go); the body carries ours in `code`.
 * Codes from staking/ (STAKING_…) raised while checking an unbonding request pass through as
 * 403 VALIDATION_ERROR, as the reference answers a failed unbonding verification. Documented in
 * api/README.md (a test checks).
 */
export const API_ERRORS = {
  API_BAD_REQUEST: [
    400,
    'BAD_REQUEST',
    'A query parameter or the body does not match the route’s schema (the message names it).',
  ],
  API_INVALID_PAGINATION_KEY: [
    400,
    'BAD_REQUEST',
    'pagination_key is not a token this API issued for this route.',
  ],
  API_INVALID_STAKER_PK: [400, 'BAD_REQUEST', 'staker_btc_pk is not a valid 32-byte x-only public key.'],
  API_INVALID_ADDRESS: [
    400,
    'BAD_REQUEST',
    'address is not a taproot (P2TR) or native segwit (P2WPKH) address of the configured network.',
  ],
  API_INVALID_UNBONDING_TX: [400, 'BAD_REQUEST', 'unbonding_tx_hex does not deserialize as one transaction.'],
  API_INVALID_PUBLIC_KEY: [400, 'BAD_REQUEST', 'public_key is not a valid 32-byte x-only public key.'],
  API_NOT_FOUND: [404, 'NOT_FOUND', 'No such route.'],
  API_ORDINALS_NOT_CONFIGURED: [
    404,
    'NOT_FOUND',
    'POST /v1/ordinals/verify-utxos: this API has no ordinals service (the reference answers 404 without one; dashboards fall back).',
  ],
  API_REQUEST_TIMEOUT: [
    408,
    'REQUEST_TIMEOUT',
    'The request’s headers or body did not arrive within the configured time; the connection is closed.',
  ],
  API_HEADERS_TOO_LARGE: [431, 'BAD_REQUEST', 'The request headers are larger than the server accepts.'],
  API_DELEGATION_NOT_FOUND: [404, 'NOT_FOUND', 'No delegation has this staking transaction hash.'],
  API_UNBONDING_DELEGATION_NOT_FOUND: [
    403,
    'NOT_FOUND',
    'No delegation has this staking transaction hash, so it cannot be unbonded (403 as the reference).',
  ],
  API_DELEGATION_NOT_ACTIVE: [
    403,
    'FORBIDDEN',
    'The delegation is not in state active, so it cannot be unbonded.',
  ],
  API_STAKING_TX_ABOVE_MAX_HEIGHT: [
    403,
    'FORBIDDEN',
    'The staking transaction is included above api.max_staking_transaction_height: the covenant signers with the same cutoff would not sign its unbonding.',
  ],
  API_UNBONDING_ALREADY_REQUESTED: [
    403,
    'FORBIDDEN',
    'An unbonding request for this delegation was already accepted; a second one is refused.',
  ],
  API_UNBONDING_TX_HASH_MISMATCH: [
    403,
    'VALIDATION_ERROR',
    'unbonding_tx_hash_hex is not the txid of unbonding_tx_hex.',
  ],
  API_INVALID_STAKER_SIGNATURE: [
    403,
    'VALIDATION_ERROR',
    'staker_signed_signature_hex does not verify as the staker’s signature over the unbonding leaf.',
  ],
  API_UNBONDING_INVALID: [
    403,
    'VALIDATION_ERROR',
    'The unbonding transaction is not the exact one the params of the staking height allow (the message says which rule).',
  ],
  API_BODY_TOO_LARGE: [
    413,
    'REQUEST_ENTITY_TOO_LARGE',
    'The request body is larger than the configured limit.',
  ],
  API_UNSUPPORTED_MEDIA_TYPE: [415, 'BAD_REQUEST', 'The body is not application/json.'],
  API_RATE_LIMITED: [
    429,
    'TOO_MANY_REQUESTS',
    'This client address sent more requests than server.rate_limit allows in the window; retry after the Retry-After header’s seconds.',
  ],
  API_SHUTTING_DOWN: [503, 'SERVICE_UNAVAILABLE', 'The instance is shutting down.'],
  API_DATABASE_UNAVAILABLE: [503, 'SERVICE_UNAVAILABLE', 'The database cannot be reached; retry later.'],
  API_TIMEOUT: [
    503,
    'SERVICE_UNAVAILABLE',
    'The request was not answered within the configured time; retry later (a POST /v1/unbonding may still have been accepted: its retry then says so).',
  ],
  API_INTERNAL: [
    500,
    'INTERNAL_SERVICE_ERROR',
    'Internal service error (details are in the log under the correlation id).',
  ],
} as const satisfies Record<string, readonly [number, string, string]>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** Codes the consumer and the CLI use (not HTTP answers); documented in the README too. */
export const API_OPERATION_ERRORS = {
  API_EVENT_OUT_OF_ORDER:
    'An event does not fit the delegation’s current state (e.g. an unbonding before its active event, or a withdraw of an active delegation); it is retried, then dead-lettered with this reason.',
  API_EVENT_CONFLICT: 'An active event names a delegation that exists already under another event.',
} as const;

export type ApiOperationErrorCode = keyof typeof API_OPERATION_ERRORS;

/** Codes of a refused SIGHUP params reload (logged; the old params stay in force). */
export const API_RELOAD_ERRORS = {
  API_PARAMS_RELOAD_REFUSED:
    'The reloaded params file removes or changes a version in force, or the tip needed to check appended versions is unknown (no btc-info event yet, or the database did not answer); the old params stay.',
} as const;

/** HTTP status and wire code of a code; STAKING_… codes are unbonding verification failures. */
export function statusOf(code: string): { status: number; errorCode: string } {
  const e = (API_ERRORS as Record<string, readonly [number, string, string]>)[code];
  if (e) return { status: e[0], errorCode: e[1] };
  if (code.startsWith('STAKING_')) return { status: 403, errorCode: 'VALIDATION_ERROR' };
  return { status: 500, errorCode: 'INTERNAL_SERVICE_ERROR' };
}
