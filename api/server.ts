// The public REST listener: fastify configured once (strict schemas, the reference's envelope and
// error body, limits), then the pieces in the order they must load: security headers, the OpenAPI
// collector and the rate limit (both watch routes as they are added), the request hooks, the error
// and 404 handlers, the route groups (api/routes/), the docs.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { capConnections, listenerOptions } from '../runtime/index.ts';
import { apiErrorHandler, clientErrorHandler, frameworkErrors } from './errorReplies.ts';
import { registerDocs, registerOpenApi } from './openApi.ts';
import { registerNotFound, registerRateLimit, registerRequestHooks } from './requestHooks.ts';
import { delegationRoutes } from './routes/delegations.ts';
import { finalityProviderRoutes } from './routes/finalityProviders.ts';
import { serviceRoutes } from './routes/service.ts';
import { statsRoutes } from './routes/stats.ts';
import { unbondingRoutes } from './routes/unbonding.ts';
import { walletRoutes } from './routes/wallet.ts';
import { type RouteSpec, RouteTable } from './routeTable.ts';
import { registerSecurityHeaders } from './securityHeaders.ts';
import type { ApiServerOptions } from './serverOptions.ts';

/**
 * Builds the REST service (not listening: the caller listens, tests use inject()). Strict schemas
 * on every input, response schemas on every output, the reference's envelope and error body with
 * our code beside its wire code, a root error handler that never leaks a 5xx's detail.
 */
export function buildApiServer(o: ApiServerOptions): { app: FastifyInstance; routes: readonly RouteSpec[] } {
  const app = Fastify({
    loggerInstance: o.logger,
    bodyLimit: o.bodyLimitBytes,
    ...listenerOptions(o.limits),
    handlerTimeout: o.handlerTimeoutMs,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    logController: new LogController({ disableRequestLogging: !o.logRequests }),
    // No coercion (every query parameter is a string anyway), first error only. Unknown fields are
    // dropped, not refused, as the reference ignores them (the top level is dropped and logged by
    // tolerantReader first; removeAdditional catches nested objects such as a utxo's).
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: true, allErrors: false, useDefaults: false },
    },
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
    return503OnClosing: false,
    // No child logger per request (a measurable share of a cheap request): our log lines name the
    // correlation id themselves.
    childLoggerFactory: (logger) => logger,
    frameworkErrors,
    clientErrorHandler: clientErrorHandler(o.logger),
  });
  capConnections(app.server, o.limits);
  registerSecurityHeaders(app);
  const table = new RouteTable();
  const routes = table.routes;
  // Both collect routes as they are declared (onRoute hooks), so both come before any route.
  registerOpenApi(app, () => new Set(routes.map((r) => r.url)));
  if (o.rateLimit.enabled) registerRateLimit(app, o.rateLimit);

  registerRequestHooks(app, o);

  app.setErrorHandler(apiErrorHandler(o));
  registerNotFound(app, o);

  // Declared here, added to fastify at the end inside one plugin: registered plugins (swagger,
  // rate limit) are loaded before it, so their onRoute hooks see every route.
  // Added in this order, which is the order of the OpenAPI document's paths.
  statsRoutes(table, o);
  delegationRoutes(table, o);
  unbondingRoutes(table, o);
  finalityProviderRoutes(table, o);
  serviceRoutes(table, o);
  walletRoutes(table, o);

  void app.register(async (scope) => {
    for (const d of table.defs) scope.route(d);
  });
  registerDocs(app);
  return { app, routes };
}
