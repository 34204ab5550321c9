/**
 * JSON schemas of every route: requests (strict, validated by fastify's ajv without coercion)
 * and responses (serialized by fastify: only declared fields leave). The OpenAPI document is built
 * from the same objects. Shapes are the reference's (backend-services.md §3.2–3.3).
 */
import { DELEGATION_STATES } from '../db/index.ts';

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
    querystring: strictQuery({ pagination_key: PAGINATION_KEY, staker_btc_pk: PK }),
    response: {
      200: envelope({ type: 'array', items: partyStats('staker_pk_hex') }, true),
      ...errors(400, 503),
    },
  },
  stakerDelegations: {
    querystring: strictQuery(
      {
        staker_btc_pk: PK,
        pagination_key: PAGINATION_KEY,
        state: {
          type: 'string',
          enum: [...DELEGATION_STATES],
          description: 'only delegations in this state',
        },
      },
      ['staker_btc_pk'],
    ),
    response: { 200: envelope({ type: 'array', items: DELEGATION }, true), ...errors(400, 503) },
  },
  delegation: {
    querystring: strictQuery({ staking_tx_hash_hex: HASH }, ['staking_tx_hash_hex']),
    response: { 200: envelope(DELEGATION), ...errors(400, 404, 503) },
  },
  delegationCheck: {
    querystring: strictQuery(
      {
        address: {
          type: 'string',
          minLength: 14,
          maxLength: 90,
          description: 'taproot or P2WPKH address of the network',
        },
        timeframe: {
          type: 'string',
          enum: ['today'],
          description: 'only delegations started since 00:00 UTC today',
        },
      },
      ['address'],
    ),
    response: { 200: envelope({ type: 'boolean' }), ...errors(400, 503) },
  },
  unbonding: {
    body: {
      type: 'object',
      additionalProperties: false,
      required: [
        'staking_tx_hash_hex',
        'unbonding_tx_hash_hex',
        'unbonding_tx_hex',
        'staker_signed_signature_hex',
      ],
      properties: {
        staking_tx_hash_hex: HASH,
        unbonding_tx_hash_hex: HASH,
        unbonding_tx_hex: { type: 'string', minLength: 2, maxLength: 2000, pattern: '^(?:[0-9a-f]{2})+$' },
        staker_signed_signature_hex: {
          type: 'string',
          pattern: '^[0-9a-f]{128}$',
          description: 'BIP340 signature (64 bytes) over the unbonding leaf sighash',
        },
      },
    },
    response: { 202: { type: 'null', description: 'accepted' }, ...errors(400, 403, 413, 415, 503) },
  },
  unbondingEligibility: {
    querystring: strictQuery({ staking_tx_hash_hex: HASH }, ['staking_tx_hash_hex']),
    response: { 200: { type: 'null', description: 'eligible' }, ...errors(400, 403, 503) },
  },
  finalityProviders: {
    querystring: strictQuery({ pagination_key: PAGINATION_KEY }),
    response: {
      200: envelope(
        {
          type: 'array',
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
        },
        true,
      ),
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
