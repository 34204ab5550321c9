// The unbonding routes: a staker's signed unbonding request, and whether one would be accepted now.
import { isCodedError } from '../../common/index.ts';
import { getDelegation } from '../../db/index.ts';
import type { UnbondingRequestBody } from '../../staking/index.ts';
import type { RouteTable } from '../routeTable.ts';
import { SCHEMAS } from '../schemas.ts';
import type { ApiServerOptions } from '../serverOptions.ts';
import { submitUnbonding, unbondingRefusal } from '../unbonding.ts';

export function unbondingRoutes({ route }: RouteTable, o: ApiServerOptions): void {
  const cutoff = { maxStakingTransactionHeight: o.maxStakingTransactionHeight };

  route<unknown, UnbondingRequestBody>(
    {
      method: 'POST',
      url: '/v1/unbonding',
      summary: 'Request the unbonding of an active delegation (staker-signed unbonding tx)',
      schema: SCHEMAS.unbonding,
    },
    async (req, reply) => {
      try {
        await submitUnbonding(o.db, o.params.current, req.body, cutoff);
      } catch (e) {
        o.metrics.unbondingRequests.inc({ code: isCodedError(e) ? e.code : 'error' });
        throw e;
      }
      o.metrics.unbondingRequests.inc({ code: 'OK' });
      req.log.info(
        {
          correlationId: req.id,
          stakingTxHash: req.body.staking_tx_hash_hex,
          unbondingTxHash: req.body.unbonding_tx_hash_hex,
        },
        'unbonding request accepted',
      );
      return reply.status(202).send(null);
    },
  );

  route<{ staking_tx_hash_hex: string }>(
    {
      method: 'GET',
      url: '/v1/unbonding/eligibility',
      summary: 'Whether a delegation can be unbonded now (200 null) or why not (403)',
      schema: SCHEMAS.unbondingEligibility,
    },
    async (req, reply) => {
      const hash = req.query.staking_tx_hash_hex;
      const refusal = await unbondingRefusal(o.db, await getDelegation(o.db, hash), hash, cutoff);
      if (refusal) throw refusal;
      return reply.status(200).send(null);
    },
  );
}
