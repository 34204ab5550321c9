import type { Queryable } from './database.ts';
import { safeInt } from './database.ts';

/** Delegation states (reference §3.7); overflow is the separate `isOverflow` flag. */
export const DELEGATION_STATES = [
  'active',
  'unbonding_requested',
  'unbonding',
  'unbonded',
  'withdrawn',
] as const;
export type DelegationState = (typeof DELEGATION_STATES)[number];

/** A delegation as stored. Amounts in satoshis, timestamps in unix seconds. */
export interface Delegation {
  readonly stakingTxid: string;
  readonly stakerPkHex: string;
  readonly finalityProviderPkHex: string;
  readonly stakingValue: number;
  readonly state: DelegationState;
  readonly isOverflow: boolean;
  readonly stakingTxHex: string;
  readonly stakingOutputIndex: number;
  readonly stakingStartHeight: number;
  readonly stakingStartTimestamp: number;
  readonly stakingTimelock: number;
  /** The staking timelock expired before any unbonding. */
  readonly stakingExpired: boolean;
  readonly unbonding: {
    readonly txHashHex: string;
    readonly txHex: string;
    readonly outputIndex: number;
    readonly startHeight: number;
    readonly startTimestamp: number;
    readonly timelock: number;
  } | null;
  readonly withdrawTxHashHex: string | null;
  readonly withdrawHeight: number | null;
}

export type NewDelegation = Omit<
  Delegation,
  'state' | 'stakingExpired' | 'unbonding' | 'withdrawTxHashHex' | 'withdrawHeight'
>;

const COLUMNS = `staking_tx_hash_hex, staker_pk_hex, finality_provider_pk_hex, staking_value, state, is_overflow,
  staking_tx_hex, staking_output_index, staking_start_height, staking_start_timestamp, staking_timelock,
  staking_expired, unbonding_tx_hash_hex, unbonding_tx_hex, unbonding_output_index, unbonding_start_height,
  unbonding_start_timestamp, unbonding_timelock, withdraw_tx_hash_hex, withdraw_height`;

interface Row {
  staking_tx_hash_hex: string;
  staker_pk_hex: string;
  finality_provider_pk_hex: string;
  staking_value: string;
  state: DelegationState;
  is_overflow: boolean;
  staking_tx_hex: string;
  staking_output_index: number;
  staking_start_height: string;
  staking_start_timestamp: string;
  staking_timelock: number;
  staking_expired: boolean;
  unbonding_tx_hash_hex: string | null;
  unbonding_tx_hex: string | null;
  unbonding_output_index: number | null;
  unbonding_start_height: string | null;
  unbonding_start_timestamp: string | null;
  unbonding_timelock: number | null;
  withdraw_tx_hash_hex: string | null;
  withdraw_height: string | null;
}

function fromRow(r: Row): Delegation {
  return {
    stakingTxid: r.staking_tx_hash_hex,
    stakerPkHex: r.staker_pk_hex,
    finalityProviderPkHex: r.finality_provider_pk_hex,
    stakingValue: safeInt(r.staking_value, 'staking_value'),
    state: r.state,
    isOverflow: r.is_overflow,
    stakingTxHex: r.staking_tx_hex,
    stakingOutputIndex: r.staking_output_index,
    stakingStartHeight: safeInt(r.staking_start_height),
    stakingStartTimestamp: safeInt(r.staking_start_timestamp),
    stakingTimelock: r.staking_timelock,
    stakingExpired: r.staking_expired,
    unbonding:
      r.unbonding_tx_hash_hex === null
        ? null
        : {
            txHashHex: r.unbonding_tx_hash_hex,
            txHex: r.unbonding_tx_hex ?? '',
            outputIndex: r.unbonding_output_index ?? 0,
            startHeight: safeInt(r.unbonding_start_height),
            startTimestamp: safeInt(r.unbonding_start_timestamp),
            timelock: r.unbonding_timelock ?? 0,
          },
    withdrawTxHashHex: r.withdraw_tx_hash_hex,
    withdrawHeight: r.withdraw_height === null ? null : safeInt(r.withdraw_height),
  };
}

/** Inserts a new delegation in state `active`; false when one with that hash exists already. */
export async function insertDelegation(q: Queryable, d: NewDelegation): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO delegations (staking_tx_hash_hex, staker_pk_hex, finality_provider_pk_hex, staking_value, state,
       is_overflow, staking_tx_hex, staking_output_index, staking_start_height, staking_start_timestamp, staking_timelock)
     VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $9, $10)
     ON CONFLICT (staking_tx_hash_hex) DO NOTHING`,
    [
      d.stakingTxid,
      d.stakerPkHex,
      d.finalityProviderPkHex,
      d.stakingValue,
      d.isOverflow,
      d.stakingTxHex,
      d.stakingOutputIndex,
      d.stakingStartHeight,
      d.stakingStartTimestamp,
      d.stakingTimelock,
    ],
  );
  return r.rowCount === 1;
}

/** One delegation, or undefined. */
export async function getDelegation(q: Queryable, stakingTxid: string): Promise<Delegation | undefined> {
  const r = await q.query<Row>({
    name: 'delegation_by_hash',
    text: `SELECT ${COLUMNS} FROM delegations WHERE staking_tx_hash_hex = $1`,
    values: [stakingTxid],
  });
  return r.rows[0] ? fromRow(r.rows[0]) : undefined;
}

/**
 * The delegation with its row locked until the transaction ends (`q` must be in one): every
 * writer of a delegation's state (event consumers, POST /v1/unbonding) takes this lock first, so
 * their decisions are serialised per delegation.
 */
export async function lockDelegation(q: Queryable, stakingTxid: string): Promise<Delegation | undefined> {
  const r = await q.query<Row>(
    `SELECT ${COLUMNS} FROM delegations WHERE staking_tx_hash_hex = $1 FOR UPDATE`,
    [stakingTxid],
  );
  return r.rows[0] ? fromRow(r.rows[0]) : undefined;
}

/** The fields a state transition may change. */
export interface DelegationUpdate {
  readonly state: DelegationState;
  readonly stakingExpired?: boolean;
  readonly unbonding?: NonNullable<Delegation['unbonding']>;
  readonly withdrawTxHashHex?: string;
  readonly withdrawHeight?: number;
}

/**
 * Moves a delegation to `u.state` if its state is still one of `from` (compare-and-set; callers
 * normally hold the row lock already). Returns whether the row changed.
 */
export async function updateDelegation(
  q: Queryable,
  stakingTxid: string,
  from: readonly DelegationState[],
  u: DelegationUpdate,
): Promise<boolean> {
  const sets = ['state = $3', 'updated_at = now()'];
  const values: unknown[] = [stakingTxid, from, u.state];
  const add = (col: string, v: unknown) => {
    values.push(v);
    sets.push(`${col} = $${values.length}`);
  };
  if (u.stakingExpired !== undefined) add('staking_expired', u.stakingExpired);
  if (u.unbonding) {
    add('unbonding_tx_hash_hex', u.unbonding.txHashHex);
    add('unbonding_tx_hex', u.unbonding.txHex);
    add('unbonding_output_index', u.unbonding.outputIndex);
    add('unbonding_start_height', u.unbonding.startHeight);
    add('unbonding_start_timestamp', u.unbonding.startTimestamp);
    add('unbonding_timelock', u.unbonding.timelock);
  }
  if (u.withdrawTxHashHex !== undefined) add('withdraw_tx_hash_hex', u.withdrawTxHashHex);
  if (u.withdrawHeight !== undefined) add('withdraw_height', u.withdrawHeight);
  const r = await q.query(
    `UPDATE delegations SET ${sets.join(', ')} WHERE staking_tx_hash_hex = $1 AND state = ANY($2::text[])`,
    values,
  );
  return r.rowCount === 1;
}

/** Position of a row in the staker-delegations order (start height desc, hash asc). */
export interface DelegationCursor {
  readonly stakingStartHeight: number;
  readonly stakingTxid: string;
}

/**
 * A staker's delegations, newest first (start height descending, then staking tx hash ascending
 * so that the order is total), after `after` when given, optionally of one state. Returns at most
 * `limit` rows and the cursor of the last one when more follow.
 */
export async function listStakerDelegations(
  q: Queryable,
  args: {
    readonly stakerPkHex: string;
    readonly state?: DelegationState | undefined;
    /** Only these states (with `state` too: both must hold). */
    readonly states?: readonly DelegationState[] | undefined;
    readonly after?: DelegationCursor | undefined;
    readonly limit: number;
  },
): Promise<{ rows: Delegation[]; next: DelegationCursor | undefined }> {
  const values: unknown[] = [args.stakerPkHex, args.limit + 1];
  let where = 'staker_pk_hex = $1';
  let name = 'staker_delegations';
  if (args.state) {
    values.push(args.state);
    where += ` AND state = $${values.length}`;
    name += '_state';
  }
  if (args.states) {
    values.push(args.states);
    where += ` AND state = ANY($${values.length}::text[])`;
    name += '_states';
  }
  if (args.after) {
    values.push(args.after.stakingStartHeight, args.after.stakingTxid);
    const h = `$${values.length - 1}`;
    const x = `$${values.length}`;
    // `height <= h` bounds the index range; the OR only filters rows at height h itself.
    where += ` AND staking_start_height <= ${h} AND (staking_start_height < ${h} OR staking_tx_hash_hex > ${x})`;
    name += '_after';
  }
  const r = await q.query<Row>({
    name,
    text: `SELECT ${COLUMNS} FROM delegations WHERE ${where}
           ORDER BY staking_start_height DESC, staking_tx_hash_hex ASC LIMIT $2`,
    values,
  });
  const rows = r.rows.slice(0, args.limit).map(fromRow);
  const last = rows[rows.length - 1];
  const next =
    r.rows.length > args.limit && last
      ? { stakingStartHeight: last.stakingStartHeight, stakingTxid: last.stakingTxid }
      : undefined;
  return { rows, next };
}

/**
 * The first page of several stakers' delegations in one round trip (a LATERAL join over the
 * same index as listStakerDelegations): what the API batches concurrent first-page requests
 * into. Returns each staker's page and next cursor, as listStakerDelegations would.
 */
export async function listStakersFirstPages(
  q: Queryable,
  args: {
    readonly stakerPkHexes: readonly string[];
    readonly state?: DelegationState | undefined;
    readonly limit: number;
  },
): Promise<Map<string, { rows: Delegation[]; next: DelegationCursor | undefined }>> {
  const values: unknown[] = [args.stakerPkHexes, args.limit + 1];
  if (args.state) values.push(args.state);
  const r = await q.query<Row & { pk: string }>({
    name: args.state ? 'stakers_first_pages_state' : 'stakers_first_pages',
    text: `SELECT s.pk, d.* FROM unnest($1::text[]) AS s(pk)
           CROSS JOIN LATERAL (
             SELECT ${COLUMNS} FROM delegations
             WHERE staker_pk_hex = s.pk${args.state ? ' AND state = $3' : ''}
             ORDER BY staking_start_height DESC, staking_tx_hash_hex ASC LIMIT $2) d`,
    values,
  });
  const byPk = new Map<string, Row[]>();
  for (const row of r.rows) {
    let list = byPk.get(row.pk);
    if (!list) {
      list = [];
      byPk.set(row.pk, list);
    }
    list.push(row);
  }
  const out = new Map<string, { rows: Delegation[]; next: DelegationCursor | undefined }>();
  for (const pk of args.stakerPkHexes) {
    const all = byPk.get(pk) ?? [];
    const rows = all.slice(0, args.limit).map(fromRow);
    const last = rows[rows.length - 1];
    out.set(pk, {
      rows,
      next:
        all.length > args.limit && last
          ? { stakingStartHeight: last.stakingStartHeight, stakingTxid: last.stakingTxid }
          : undefined,
    });
  }
  return out;
}

/** Records witness programs (`p2tr:<hex>`, `p2wpkh:<hex>`) the staker's key controls. */
export async function insertStakerAddresses(
  q: Queryable,
  stakerPkHex: string,
  programs: readonly string[],
): Promise<void> {
  if (programs.length === 0) return;
  await q.query(
    `INSERT INTO staker_addresses (program, staker_pk_hex) SELECT unnest($1::text[]), $2 ON CONFLICT (program) DO NOTHING`,
    [programs, stakerPkHex],
  );
}

/**
 * Whether a staker whose key controls `program` has an `active` delegation, optionally one that
 * started at or after `sinceTimestamp` (unix seconds).
 */
export async function hasActiveDelegationForProgram(
  q: Queryable,
  program: string,
  sinceTimestamp?: number,
): Promise<boolean> {
  const r = await q.query<{ found: boolean }>({
    name: 'active_delegation_for_program',
    text: `SELECT EXISTS (
             SELECT 1 FROM staker_addresses a JOIN delegations d ON d.staker_pk_hex = a.staker_pk_hex
             WHERE a.program = $1 AND d.state = 'active' AND d.staking_start_timestamp >= $2) AS found`,
    values: [program, sinceTimestamp ?? 0],
  });
  return r.rows[0]?.found === true;
}

/**
 * The staker keys behind witness programs, for the programs whose staker has had a delegation
 * (`staker_addresses` is filled from active events): program → x-only key hex.
 */
export async function stakerPksByPrograms(
  q: Queryable,
  programs: readonly string[],
): Promise<Map<string, string>> {
  if (programs.length === 0) return new Map();
  const r = await q.query<{ program: string; staker_pk_hex: string }>({
    name: 'staker_pks_by_programs',
    text: 'SELECT program, staker_pk_hex FROM staker_addresses WHERE program = ANY($1::text[])',
    values: [programs],
  });
  return new Map(r.rows.map((x) => [x.program, x.staker_pk_hex]));
}
