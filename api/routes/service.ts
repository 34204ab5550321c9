// The service's own routes: the global params (serialised once per params version) and health.
import type { GlobalParams } from '../../params/index.ts';
import { paramsVersionToJson } from '../../params/index.ts';
import type { RouteTable } from '../routeTable.ts';
import { SCHEMAS } from '../schemas.ts';
import type { ApiServerOptions } from '../serverOptions.ts';

export function serviceRoutes({ route }: RouteTable, o: ApiServerOptions): void {
  // Rebuilt when a reload replaced the params (compared by identity: a reload makes a new object).
  let paramsBody: { of: GlobalParams; json: string } | undefined;
  const globalParams = () => {
    const p = o.params.current;
    if (paramsBody?.of !== p) {
      paramsBody = {
        of: p,
        json: JSON.stringify({ data: { versions: p.versions.map(paramsVersionToJson) } }),
      };
    }
    return paramsBody.json;
  };

  route(
    {
      method: 'GET',
      url: '/v1/global-params',
      summary: 'The global parameters, every version',
      schema: SCHEMAS.globalParams,
    },
    (_req, reply) => reply.type('application/json; charset=utf-8').send(globalParams()),
  );

  route(
    {
      method: 'GET',
      url: '/healthcheck',
      summary: 'Reference health check: pings the database',
      schema: SCHEMAS.healthcheck,
    },
    async () => {
      await o.db.ping();
      return { data: 'Server is up and running' };
    },
  );
  // Readiness, with the database's and the broker's state, is on the ops listener only: on the
  // public port it told anyone the database name, its address and error texts.
  route(
    { method: 'GET', url: '/healthz', summary: 'Liveness (no dependency)', schema: SCHEMAS.healthz },
    () => ({
      status: 'ok',
    }),
  );
}
