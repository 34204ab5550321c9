-- The staking API's store (DESIGN.md: PostgreSQL, not MongoDB). Hashes and keys are lowercase hex
-- at the edges, so they are stored as the API serves them; amounts are integer satoshis (bigint).

-- One row per staking transaction the indexer reported (reference: `delegations`).
CREATE TABLE delegations (
  staking_tx_hash_hex       text     PRIMARY KEY CHECK (staking_tx_hash_hex ~ '^[0-9a-f]{64}$'),
  staker_pk_hex             text     NOT NULL CHECK (staker_pk_hex ~ '^[0-9a-f]{64}$'),
  finality_provider_pk_hex  text     NOT NULL CHECK (finality_provider_pk_hex ~ '^[0-9a-f]{64}$'),
  staking_value             bigint   NOT NULL CHECK (staking_value >= 0),
  state                     text     NOT NULL CHECK (state IN ('active', 'unbonding_requested', 'unbonding', 'unbonded', 'withdrawn')),
  is_overflow               boolean  NOT NULL,
  staking_tx_hex            text     NOT NULL,
  staking_output_index      integer  NOT NULL CHECK (staking_output_index >= 0),
  staking_start_height      bigint   NOT NULL CHECK (staking_start_height >= 0),
  staking_start_timestamp   bigint   NOT NULL,
  staking_timelock          integer  NOT NULL CHECK (staking_timelock BETWEEN 0 AND 65535),
  -- Set when the staking timelock expired before any unbonding (the path a withdraw then takes).
  staking_expired           boolean  NOT NULL DEFAULT false,
  unbonding_tx_hash_hex     text     CHECK (unbonding_tx_hash_hex ~ '^[0-9a-f]{64}$'),
  unbonding_tx_hex          text,
  unbonding_output_index    integer,
  unbonding_start_height    bigint,
  unbonding_start_timestamp bigint,
  unbonding_timelock        integer,
  withdraw_tx_hash_hex      text     CHECK (withdraw_tx_hash_hex ~ '^[0-9a-f]{64}$'),
  withdraw_height           bigint,
  created_at                timestamptz NOT NULL DEFAULT now(),
  updated_at                timestamptz NOT NULL DEFAULT now(),
  CHECK ((unbonding_tx_hash_hex IS NULL) = (unbonding_tx_hex IS NULL))
);
-- /v1/staker/delegations: newest first, hash as the tie-break (the reference had none, §3.4).
CREATE INDEX delegations_staker_page ON delegations (staker_pk_hex, staking_start_height DESC, staking_tx_hash_hex);
CREATE INDEX delegations_staker_state_page ON delegations (staker_pk_hex, state, staking_start_height DESC, staking_tx_hash_hex);

-- Witness programs the staker's key controls, for /v1/staker/delegation/check: the BIP86 taproot
-- output key, and the P2WPKH key hashes of both parities of the x-only key (§9: the reference
-- matched only the taproot address). Network-independent; the route decodes the address first.
CREATE TABLE staker_addresses (
  program       text PRIMARY KEY,  -- 'p2tr:<32-byte hex>' or 'p2wpkh:<20-byte hex>'
  staker_pk_hex text NOT NULL
);

-- Statistics (reference §3.6). Only non-overflow delegations count. `overall_stats` is split in
-- shards so concurrent writers rarely wait for one another; readers sum the shards.
CREATE TABLE overall_stats (
  shard              smallint PRIMARY KEY CHECK (shard >= 0),
  active_tvl         bigint NOT NULL DEFAULT 0,
  total_tvl          bigint NOT NULL DEFAULT 0,
  active_delegations bigint NOT NULL DEFAULT 0,
  total_delegations  bigint NOT NULL DEFAULT 0,
  total_stakers      bigint NOT NULL DEFAULT 0
);
INSERT INTO overall_stats (shard) SELECT generate_series(0, 15);

CREATE TABLE staker_stats (
  staker_pk_hex      text PRIMARY KEY,
  active_tvl         bigint NOT NULL DEFAULT 0 CHECK (active_tvl >= 0),
  total_tvl          bigint NOT NULL DEFAULT 0 CHECK (total_tvl >= 0),
  active_delegations bigint NOT NULL DEFAULT 0 CHECK (active_delegations >= 0),
  total_delegations  bigint NOT NULL DEFAULT 0 CHECK (total_delegations >= 0)
);
CREATE INDEX staker_stats_page ON staker_stats (active_tvl DESC, staker_pk_hex DESC);

CREATE TABLE finality_provider_stats (
  finality_provider_pk_hex text PRIMARY KEY,
  active_tvl               bigint NOT NULL DEFAULT 0 CHECK (active_tvl >= 0),
  total_tvl                bigint NOT NULL DEFAULT 0 CHECK (total_tvl >= 0),
  active_delegations       bigint NOT NULL DEFAULT 0 CHECK (active_delegations >= 0),
  total_delegations        bigint NOT NULL DEFAULT 0 CHECK (total_delegations >= 0)
);
CREATE INDEX finality_provider_stats_page ON finality_provider_stats (active_tvl DESC, finality_provider_pk_hex DESC);

-- The indexer's latest btc-info snapshot (tip, confirmed and unconfirmed TVL): latest by height.
CREATE TABLE btc_info (
  id              smallint PRIMARY KEY CHECK (id = 1),
  height          bigint NOT NULL,
  sequence        bigint NOT NULL,
  confirmed_tvl   bigint NOT NULL,
  unconfirmed_tvl bigint NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Idempotency: one row per applied event id, written in the event's own transaction.
CREATE TABLE processed_events (
  event_id     text PRIMARY KEY,
  sequence     bigint NOT NULL,
  outcome      text NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now()
);

-- A copy of every message the consumer dead-lettered, with the reason (the message itself waits
-- in the broker's dead-letter queue for `replay-dead-letters`).
CREATE TABLE dead_letters (
  id            bigserial PRIMARY KEY,
  event_id      text,
  routing_key   text,
  reason        text NOT NULL,
  body          text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  replayed_at   timestamptz
);
CREATE INDEX dead_letters_event ON dead_letters (event_id);

-- Unbonding requests taken by POST /v1/unbonding, for the pipeline (reference `unbonding_queue`,
-- §5). One per delegation, ever. States: pending (new or to retry), sent (broadcast), failed
-- (retryable error), no_quorum (fewer covenant signatures than the quorum), input_spent (the
-- staking output is already spent: final). Claiming is by lease (`claimed_until`), so a worker
-- that dies releases its requests when the lease ends.
CREATE TABLE unbonding_requests (
  id                       bigserial PRIMARY KEY,
  staking_tx_hash_hex      text    NOT NULL UNIQUE REFERENCES delegations (staking_tx_hash_hex),
  unbonding_tx_hash_hex    text    NOT NULL UNIQUE CHECK (unbonding_tx_hash_hex ~ '^[0-9a-f]{64}$'),
  unbonding_tx_hex         text    NOT NULL,
  staker_signature_hex     text    NOT NULL CHECK (staker_signature_hex ~ '^[0-9a-f]{128}$'),
  staker_pk_hex            text    NOT NULL,
  finality_provider_pk_hex text    NOT NULL,
  staking_tx_hex           text    NOT NULL,
  staking_output_index     integer NOT NULL,
  staking_value            bigint  NOT NULL,
  staking_timelock         integer NOT NULL,
  staking_start_height     bigint  NOT NULL,
  params_version           integer NOT NULL,
  state                    text    NOT NULL DEFAULT 'pending'
                           CHECK (state IN ('pending', 'sent', 'failed', 'no_quorum', 'input_spent')),
  attempts                 integer NOT NULL DEFAULT 0,
  next_attempt_at          timestamptz NOT NULL DEFAULT now(),
  claimed_by               text,
  claimed_until            timestamptz,
  -- Per covenant key: [{covenant_pk_hex, signature_hex | null, error | null, at}] of the last attempt.
  signer_results           jsonb   NOT NULL DEFAULT '[]'::jsonb,
  last_error               text,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  sent_at                  timestamptz
);
CREATE INDEX unbonding_requests_due ON unbonding_requests (next_attempt_at, id)
  WHERE state IN ('pending', 'failed', 'no_quorum');
