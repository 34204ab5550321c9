/**
 * JSON schemas of every route: requests (strict, validated by fastify's ajv without coercion)
 * and responses (serialized by fastify: only declared fields leave). The OpenAPI document is built
 * from the same objects. Shapes are the reference's (backend-services.md §3.2–3.3).
 */
import { DELEGATION_STATES } from '../db/index.ts';
import { HASH_IN, UNBONDING_REQUEST_SCHEMA } from '../staking/index.ts';

/** What leaves the API: lowercase hex. */
export const HASH = {
  type: 'string',
  pattern: '^[0-9a-f]{64}$',
  description: 'lowercase hex, 32 bytes',
} as const;
const PK = {
  type: 'string',
  pattern: '^[0-9a-f]{64}$',
  description: 'x-only public key, lowercase hex',
} as const;
// What comes in: hex of any case, as the reference accepts (Go's hex decoder); server.ts turns the
// fields named in HEX_FIELDS to lowercase before validation, so handlers only ever see lowercase.
// HASH_IN is staking/'s, the one the unbonding request's schema uses too.
const PK_IN = {
  type: 'string',
  pattern: '^[0-9a-fA-F]{64}$',
  description: 'x-only public key, hex, any case',
} as const;
/** Request fields holding hex (keys, hashes, transactions, signatures), at any depth of a request. */
export const HEX_FIELDS: ReadonlySet<string> = new Set([
  'staker_btc_pk',
  'fp_btc_pk',
  'staking_tx_hash_hex',
  'unbonding_tx_hash_hex',
  'unbonding_tx_hex',
  'staker_signed_signature_hex',
  'public_key',
  'txid',
]);
const ADDRESS = {
  type: 'string',
  minLength: 14,
  maxLength: 90,
  description: 'taproot or P2WPKH address of the network',
} as const;
export const PAGINATION_KEY = {
  type: 'string',
  maxLength: 512,
  description:
    'opaque token from the previous page’s pagination.next_key; empty or absent for the first page',
} as const;
const SAT = { type: 'integer', minimum: 0, description: 'satoshis' } as const;
const COUNT = { type: 'integer', minimum: 0 } as const;

const errorBody = {
  type: 'object',
  required: ['errorCode', 'message'],
  properties: {
    errorCode: {
      type: 'string',
      description: 'the reference’s wire code (BAD_REQUEST, NOT_FOUND, FORBIDDEN, …)',
    },
    message: { type: 'string' },
    code: { type: 'string', description: 'our stable code (API_…, STAKING_…)' },
  },
} as const;

const pagination = {
  type: 'object',
  required: ['next_key'],
  properties: { next_key: { type: 'string', description: 'empty on the last page' } },
} as const;

const envelope = (data: object, paginated = false) => ({
  type: 'object',
  required: paginated ? ['data', 'pagination'] : ['data'],
  properties: paginated ? { data, pagination } : { data },
});

/** Paginated, except when the query names one item: the reference then answers without pagination. */
const optionallyPaged = (data: object) => ({
  type: 'object',
  required: ['data'],
  properties: { data, pagination },
});

const errors = (...statuses: number[]) =>
  Object.fromEntries([...statuses, 500].map((s) => [s, { ...errorBody, description: `error (${s})` }]));

const txInfo = {
  type: 'object',
  required: ['tx_hex', 'output_index', 'start_timestamp', 'start_height', 'timelock'],
  properties: {
    tx_hex: { type: 'string' },
    output_index: COUNT,
    start_timestamp: { type: 'string', description: 'RFC 3339, UTC' },
    start_height: COUNT,
    timelock: COUNT,
  },
} as const;

export const DELEGATION = {
  type: 'object',
  required: [
    'staking_tx_hash_hex',
    'staker_pk_hex',
    'finality_provider_pk_hex',
    'state',
    'staking_value',
    'staking_tx',
    'is_overflow',
  ],
  properties: {
    staking_tx_hash_hex: HASH,
    staker_pk_hex: PK,
    finality_provider_pk_hex: PK,
    state: { type: 'string', enum: [...DELEGATION_STATES] },
    staking_value: SAT,
    staking_tx: txInfo,
    unbonding_tx: { ...txInfo, description: 'absent until the unbonding tx confirmed' },
    is_overflow: { type: 'boolean' },
  },
} as const;

const partyStats = (keyField: string) =>
  ({
    type: 'object',
    required: [keyField, 'active_tvl', 'total_tvl', 'active_delegations', 'total_delegations'],
    properties: {
      [keyField]: PK,
      active_tvl: SAT,
      total_tvl: SAT,
      active_delegations: COUNT,
      total_delegations: COUNT,
    },
  }) as const;

/**
 * A route's query. Parameters it does not know are dropped before validation (logged at debug),
 * as the reference ignores them; the ones it knows must be valid.
 */
const strictQuery = (properties: Record<string, unknown>, required: string[] = []) => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});

export const SCHEMAS = {
  stats: {
    response: {
      200: envelope({
        type: 'object',
        required: [
          'active_tvl',
          'total_tvl',
          'active_delegations',
          'total_delegations',
          'total_stakers',
          'unconfirmed_tvl',
          'pending_tvl',
        ],
        properties: {
          active_tvl: SAT,
          total_tvl: SAT,
          active_delegations: COUNT,
          total_delegations: COUNT,
          total_stakers: COUNT,
          unconfirmed_tvl: SAT,
          pending_tvl: SAT,
        },
      }),
      ...errors(503),
    },
  },
  btcInfo: {
    response: {
      200: envelope({
        type: 'object',
        required: ['network', 'tip_height', 'confirmed_tvl', 'unconfirmed_tvl'],
        properties: {
          network: {
            type: 'string',
            enum: ['mainnet', 'testnet', 'signet', 'regtest'],
            description: 'the Bitcoin network this API serves (bitcoin.network)',
          },
          tip_height: {
            type: 'integer',
            nullable: true,
            minimum: 0,
            description: 'the node’s tip as the indexer last reported it; null before its first report',
          },
          confirmed_tvl: { ...SAT, description: 'satoshis staked in confirmed blocks (indexer)' },
          unconfirmed_tvl: {
            ...SAT,
            description: 'satoshis staked counting the blocks not yet confirmed (indexer)',
          },
        },
      }),
      ...errors(503),
    },
  },
  stakerStats: {
    querystring: strictQuery({ pagination_key: PAGINATION_KEY, staker_btc_pk: PK_IN }),
    response: {
      // With staker_btc_pk the reference answers `{"data": [one]}` or `{"data": null}`, no pagination.
      200: optionallyPaged({ type: 'array', nullable: true, items: partyStats('staker_pk_hex') }),
      ...errors(400, 503),
    },
  },
  stakerDelegations: {
    querystring: strictQuery(
      {
        staker_btc_pk: PK_IN,
        pagination_key: PAGINATION_KEY,
        state: {
          type: 'string',
          enum: [...DELEGATION_STATES],
          description: 'only delegations in this state',
        },
        pending_action: {
          type: 'string',
          // The reference parses it with Go's strconv.ParseBool.
          enum: ['true', 'false', '1', '0', 't', 'f', 'T', 'F', 'TRUE', 'FALSE', 'True', 'False'],
          description:
            'true: only delegations a staker may still act on (active, unbonding_requested, unbonding, unbonded), as the labs API',
        },
      },
      ['staker_btc_pk'],
    ),
    response: { 200: envelope({ type: 'array', items: DELEGATION }, true), ...errors(400, 503) },
  },
  delegation: {
    querystring: strictQuery({ staking_tx_hash_hex: HASH_IN }, ['staking_tx_hash_hex']),
    response: { 200: envelope(DELEGATION), ...errors(400, 404, 503) },
  },
  delegationCheck: {
    querystring: strictQuery(
      {
        address: ADDRESS,
        timeframe: {
          type: 'string',
          enum: ['today'],
          description: 'only delegations started since 00:00 UTC today',
        },
      },
      ['address'],
    ),
    // The reference's DelegationCheckPublicResponse: `code` 0 beside the boolean (Galxe reads it).
    response: {
      200: {
        type: 'object',
        required: ['data', 'code'],
        properties: { data: { type: 'boolean' }, code: { type: 'integer', enum: [0] } },
      },
      ...errors(400, 503),
    },
  },
  pubkeyLookup: {
    querystring: strictQuery(
      {
        address: {
          anyOf: [ADDRESS, { type: 'array', minItems: 1, maxItems: 10, items: ADDRESS }],
          description: 'one to ten taproot or P2WPKH addresses (repeat the parameter)',
        },
      },
      ['address'],
    ),
    response: {
      200: envelope({
        type: 'object',
        additionalProperties: PK,
        description: 'address → x-only public key, for the addresses of stakers with a delegation only',
      }),
      ...errors(400, 503),
    },
  },
  verifyUtxos: {
    body: {
      type: 'object',
      additionalProperties: false,
      properties: {
        address: ADDRESS,
        utxos: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            properties: { txid: HASH_IN, vout: { type: 'integer', minimum: 0 } },
          },
        },
      },
    },
    response: { ...errors(404, 503) },
  },
  termsAcceptance: {
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['address', 'public_key'],
      properties: {
        address: ADDRESS,
        public_key: { ...PK_IN, description: 'the wallet’s x-only public key, hex, any case' },
      },
    },
    response: {
      200: envelope({ type: 'object', required: ['status'], properties: { status: { type: 'boolean' } } }),
      ...errors(400, 413, 415, 503),
    },
  },
  unbonding: {
    body: UNBONDING_REQUEST_SCHEMA,
    response: { 202: { type: 'null', description: 'accepted' }, ...errors(400, 403, 413, 415, 503) },
  },
  unbondingEligibility: {
    querystring: strictQuery({ staking_tx_hash_hex: HASH_IN }, ['staking_tx_hash_hex']),
    response: { 200: { type: 'null', description: 'eligible' }, ...errors(400, 403, 503) },
  },
  finalityProviders: {
    querystring: strictQuery({
      pagination_key: PAGINATION_KEY,
      fp_btc_pk: { ...PK_IN, description: 'only this provider (answered without pagination)' },
      sort: {
        type: 'string',
        enum: ['random'],
        description:
          'random: each page holds the providers it holds without it, in a random order (the labs API shuffles the page)',
      },
    }),
    response: {
      200: optionallyPaged({
        type: 'array',
        nullable: true,
        items: {
          type: 'object',
          required: [
            'description',
            'commission',
            'btc_pk',
            'active_tvl',
            'total_tvl',
            'active_delegations',
            'total_delegations',
          ],
          properties: {
            description: {
              type: 'object',
              required: ['moniker', 'identity', 'website', 'security_contact', 'details'],
              properties: {
                moniker: { type: 'string' },
                identity: { type: 'string' },
                website: { type: 'string' },
                security_contact: { type: 'string' },
                details: { type: 'string' },
              },
            },
            commission: { type: 'string' },
            btc_pk: PK,
            active_tvl: SAT,
            total_tvl: SAT,
            active_delegations: COUNT,
            total_delegations: COUNT,
          },
        },
      }),
      ...errors(400, 503),
    },
  },
  globalParams: {
    response: {
      200: envelope({
        type: 'object',
        required: ['versions'],
        properties: {
          versions: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                version: COUNT,
                activation_height: COUNT,
                staking_cap: SAT,
                cap_height: COUNT,
                tag: { type: 'string' },
                covenant_pks: { type: 'array', items: { type: 'string' } },
                covenant_quorum: COUNT,
                unbonding_time: COUNT,
                unbonding_fee: SAT,
                max_staking_amount: SAT,
                min_staking_amount: SAT,
                max_staking_time: COUNT,
                min_staking_time: COUNT,
                confirmation_depth: COUNT,
              },
            },
          },
        },
      }),
    },
  },
  healthcheck: { response: { 200: envelope({ type: 'string' }), ...errors(503) } },
  healthz: {
    response: { 200: { type: 'object', required: ['status'], properties: { status: { type: 'string' } } } },
  },
} as const;
