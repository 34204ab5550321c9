import { CodedError } from '../common/index.ts';
import type { DelegationCursor, StatsCursor } from '../db/index.ts';

/**
 * Pagination tokens: base64url(JSON) of the last row's sort keys, as the reference (§3.4), with
 * its bugs fixed: the order is total (a tie-break key sorts rows with equal primary keys, so no row
 * is skipped or repeated across pages), and the token we issue (URL-safe base64) is the token we
 * accept: standard base64 (`+`, `/`, `=` padding) is accepted too, for clients that re-encode it.
 */
export function encodeToken(v: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
}

/** @throws {CodedError} API_INVALID_PAGINATION_KEY */
function decodeToken(token: string): Record<string, unknown> {
  const bad = () =>
    new CodedError('API_INVALID_PAGINATION_KEY', 'pagination_key is not a valid pagination token');
  if (!/^[A-Za-z0-9_+/-]+={0,2}$/.test(token)) throw bad();
  let v: unknown;
  try {
    v = JSON.parse(
      Buffer.from(token.replaceAll('+', '-').replaceAll('/', '_'), 'base64url').toString('utf8'),
    );
  } catch {
    throw bad();
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad();
  return v as Record<string, unknown>;
}

const HASH_RE = /^[0-9a-f]{64}$/;
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** Token of /v1/staker/delegations: `{staking_tx_hash_hex, staking_start_height}`. */
export function delegationToken(c: DelegationCursor): string {
  return encodeToken({ staking_tx_hash_hex: c.stakingTxid, staking_start_height: c.stakingStartHeight });
}

/** @throws {CodedError} API_INVALID_PAGINATION_KEY */
export function parseDelegationToken(token: string): DelegationCursor {
  const v = decodeToken(token);
  const hash = v.staking_tx_hash_hex;
  const height = v.staking_start_height;
  if (typeof hash !== 'string' || !HASH_RE.test(hash) || !isCount(height) || Object.keys(v).length !== 2) {
    throw new CodedError('API_INVALID_PAGINATION_KEY', 'pagination_key is not a delegations token');
  }
  return { stakingTxid: hash, stakingStartHeight: height };
}

/** Token of the stats listings: `{<key_field>, active_tvl}`. */
export function statsToken(keyField: 'staker_pk_hex' | 'finality_provider_pk_hex', c: StatsCursor): string {
  return encodeToken({ [keyField]: c.pkHex, active_tvl: c.activeTvl });
}

/** @throws {CodedError} API_INVALID_PAGINATION_KEY */
export function parseStatsToken(
  keyField: 'staker_pk_hex' | 'finality_provider_pk_hex',
  token: string,
): StatsCursor {
  const v = decodeToken(token);
  const pk = v[keyField];
  const tvl = v.active_tvl;
  if (typeof pk !== 'string' || !HASH_RE.test(pk) || !isCount(tvl) || Object.keys(v).length !== 2) {
    throw new CodedError(
      'API_INVALID_PAGINATION_KEY',
      `pagination_key is not a ${keyField.replace('_hex', '')} stats token`,
    );
  }
  return { pkHex: pk, activeTvl: tvl };
}
