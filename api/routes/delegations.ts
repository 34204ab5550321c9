// A staker's delegations: the list (first pages batched), one by staking tx, and the address check.

import { CodedError } from '../../common/index.ts';
import {
  type Delegation,
  type DelegationState,
  getDelegation,
  hasActiveDelegationForProgram,
  listStakerDelegations,
} from '../../db/index.ts';
import { programOfAddress } from '../addresses.ts';
import { FirstPageBatcher } from '../batcher.ts';
import type { ApiErrorCode } from '../errors.ts';
import { delegationToken, parseDelegationToken } from '../pagination.ts';
import type { RouteTable } from '../routeTable.ts';
import { SCHEMAS } from '../schemas.ts';
import type { ApiServerOptions } from '../serverOptions.ts';
import { nextKey, stakerKey } from './shared.ts';

/** The reference's DelegationPublic (§3.3). */
function toPublic(d: Delegation) {
  const time = (ts: number) => new Date(ts * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    staking_tx_hash_hex: d.stakingTxid,
    staker_pk_hex: d.stakerPkHex,
    finality_provider_pk_hex: d.finalityProviderPkHex,
    state: d.state,
    staking_value: d.stakingValue,
    staking_tx: {
      tx_hex: d.stakingTxHex,
      output_index: d.stakingOutputIndex,
      start_timestamp: time(d.stakingStartTimestamp),
      start_height: d.stakingStartHeight,
      timelock: d.stakingTimelock,
    },
    ...(d.unbonding
      ? {
          unbonding_tx: {
            tx_hex: d.unbonding.txHex,
            output_index: d.unbonding.outputIndex,
            start_timestamp: time(d.unbonding.startTimestamp),
            start_height: d.unbonding.startHeight,
            timelock: d.unbonding.timelock,
          },
        }
      : {}),
    is_overflow: d.isOverflow,
  };
}

/** States with an action left for the staker (unbond, wait, withdraw); the labs API's pending_action filter. */
const PENDING_ACTION_STATES: readonly DelegationState[] = [
  'active',
  'unbonding_requested',
  'unbonding',
  'unbonded',
];

export function delegationRoutes({ route }: RouteTable, o: ApiServerOptions): void {
  const limit = o.paginationLimit;
  const firstPages = new FirstPageBatcher(o.db, limit);

  route<{ staker_btc_pk: string; pagination_key?: string; state?: DelegationState; pending_action?: string }>(
    {
      method: 'GET',
      url: '/v1/staker/delegations',
      summary: 'A staker’s delegations, newest first, optionally of one state or with a pending action',
      schema: SCHEMAS.stakerDelegations,
    },
    async (req) => {
      const q = req.query;
      const pk = stakerKey(q.staker_btc_pk);
      // The labs API (v1 handlers/staker.go GetStakerDelegations): the states a staker can still act on.
      const pending =
        q.pending_action !== undefined && ['true', '1', 't', 'T', 'TRUE', 'True'].includes(q.pending_action);
      const page =
        q.pagination_key || pending
          ? await listStakerDelegations(o.db, {
              stakerPkHex: pk,
              state: q.state,
              states: pending ? PENDING_ACTION_STATES : undefined,
              after: q.pagination_key ? parseDelegationToken(q.pagination_key) : undefined,
              limit,
            })
          : await firstPages.get(pk, q.state);
      return { data: page.rows.map(toPublic), pagination: nextKey(page.next && delegationToken(page.next)) };
    },
  );

  route<{ staking_tx_hash_hex: string }>(
    {
      method: 'GET',
      url: '/v1/delegation',
      summary: 'One delegation by staking tx hash',
      schema: SCHEMAS.delegation,
    },
    async (req) => {
      const d = await getDelegation(o.db, req.query.staking_tx_hash_hex);
      if (!d)
        throw new CodedError<ApiErrorCode>(
          'API_DELEGATION_NOT_FOUND',
          'staking delegation not found, please retry',
        );
      return { data: toPublic(d) };
    },
  );

  route<{ address: string; timeframe?: 'today' }>(
    {
      method: 'GET',
      url: '/v1/staker/delegation/check',
      summary: 'Whether the address’s key has an active delegation (optionally started today, UTC)',
      schema: SCHEMAS.delegationCheck,
    },
    async (req) => {
      const program = programOfAddress(req.query.address, o.network);
      let since: number | undefined;
      if (req.query.timeframe === 'today') {
        const now = new Date();
        since = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) / 1000;
      }
      return { data: await hasActiveDelegationForProgram(o.db, program, since), code: 0 };
    },
  );
}
