// The API's documentation: the OpenAPI document built from the routes' own schemas, and Swagger UI
// served offline at /docs and at the reference's /swagger/.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { DOCS_CSP } from './securityHeaders.ts';

/**
 * The OpenAPI 3.0 document (@fastify/swagger) from the very schemas fastify validates and
 * serializes with; routes outside `documented()` (the dashboard's, the docs' own) are hidden.
 */
export function registerOpenApi(app: FastifyInstance, documented: () => ReadonlySet<string>): void {
  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Staking API (Babylon phase-1)',
        version: '1.0.0',
        description:
          'Reference-compatible staking API: the phase-1 routes, envelopes and JSON shapes of staking-api-service. ' +
          'Errors are {"errorCode", "message", "code"}: the reference wire code, a sentence, and our stable code (api/README.md).',
      },
    },
    transform: ({ schema, url }) => ({
      schema: (documented().has(url) ? schema : { ...schema, hide: true }) as never,
      url,
    }),
  });
}

/**
 * The document at /openapi.json and the reference's /swagger/doc.json; Swagger UI
 * (@fastify/swagger-ui, its assets served from node_modules: no CDN) at /docs and at the
 * reference's /swagger/. Each UI in a scope of its own (the plugin decorates its instance), with
 * a CSP that allows this origin's scripts, styles and images only.
 */
export function registerDocs(app: FastifyInstance): void {
  const hidden = { schema: { hide: true } };
  app.get('/openapi.json', hidden, () => app.swagger());
  app.get('/swagger/doc.json', hidden, () => app.swagger());
  app.get('/swagger/index.html', hidden, (_req, reply) => reply.redirect('/swagger/'));
  for (const prefix of ['/docs', '/swagger']) {
    void app.register(async (scope) => {
      await scope.register(swaggerUi, {
        routePrefix: prefix,
        staticCSP: DOCS_CSP,
        // BaseLayout: no top bar, i.e. no box to load other documents and no logo with an inline
        // <style> the CSP would have to allow.
        uiConfig: { validatorUrl: null, layout: 'BaseLayout' },
        // No logo: the plugin's default is drawn as a data: image, which the CSP would have to allow.
        // null is what its code checks for (index.js); its types only know a logo object.
        logo: null as never,
      });
    });
  }
}
