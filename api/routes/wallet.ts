// The routes a wallet calls about its addresses: the key behind an address, the ordinals check (not
// offered: 404), and the optional terms-of-use acceptance.
import { CodedError } from '../../common/index.ts';
import { recordTermsAcceptance, stakerPksByPrograms } from '../../db/index.ts';
import { programOfAddress } from '../addresses.ts';
import type { ApiErrorCode } from '../errors.ts';
import type { RouteSpec, RouteTable } from '../routeTable.ts';
import { SCHEMAS } from '../schemas.ts';
import type { ApiServerOptions } from '../serverOptions.ts';
import { isValidXOnlyKey } from './shared.ts';

export function walletRoutes({ route, routes, defs }: RouteTable, o: ApiServerOptions): void {
  route<{ address: string | string[] }>(
    {
      method: 'GET',
      url: '/v1/staker/pubkey-lookup',
      summary:
        'The x-only public keys behind taproot or P2WPKH addresses, for stakers with a delegation (address → key)',
      schema: SCHEMAS.pubkeyLookup,
    },
    async (req) => {
      const addresses = [req.query.address].flat();
      const programs = new Map(addresses.map((a) => [a, programOfAddress(a, o.network)]));
      const found = await stakerPksByPrograms(o.db, [...new Set(programs.values())]);
      const data: Record<string, string> = {};
      for (const [a, program] of programs) {
        const pk = found.get(program);
        if (pk !== undefined) data[a] = pk;
      }
      return { data };
    },
  );

  // The reference registers this route only with an ordinals service configured (`assets`), and
  // answers 404 otherwise; we have none, so 404 always, and a dashboard falls back to its own
  // UTXO handling. Declared so that a body of any shape gets that 404 rather than a 400 or 415.
  const ordinals: RouteSpec = {
    method: 'POST',
    url: '/v1/ordinals/verify-utxos',
    summary: 'Ordinals check of UTXOs: not offered here (404, as the reference without an ordinals service)',
    schema: SCHEMAS.verifyUtxos,
  };
  routes.push(ordinals);
  defs.push({
    method: ordinals.method,
    url: ordinals.url,
    schema: { ...ordinals.schema, summary: ordinals.summary },
    // Before the body is read: an empty or odd body gets the same 404 (the reference's test posts none).
    onRequest: (_req, _reply, done) =>
      done(
        new CodedError<ApiErrorCode>(
          'API_ORDINALS_NOT_CONFIGURED',
          'no ordinals service is configured on this API',
        ),
      ),
    handler: () => null,
  });

  if (o.termsAcceptance) {
    route<unknown, { address: string; public_key: string }>(
      {
        method: 'POST',
        url: '/log-terms-acceptance',
        summary: 'Record that a wallet accepted the terms of use',
        schema: SCHEMAS.termsAcceptance,
      },
      async (req) => {
        programOfAddress(req.body.address, o.network);
        if (!isValidXOnlyKey(req.body.public_key)) {
          throw new CodedError<ApiErrorCode>(
            'API_INVALID_PUBLIC_KEY',
            'public_key is not a valid x-only public key',
          );
        }
        await recordTermsAcceptance(o.db, req.body.address, req.body.public_key);
        return { data: { status: true } };
      },
    );
  }
}
