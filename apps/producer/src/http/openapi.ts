import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

/**
 * OpenAPI 3 built from the route schemas (@fastify/swagger, so it must be registered before any
 * route), served at /openapi.json, with Swagger UI at /docs. Hidden routes (the console's files,
 * bull-board) stay out of it.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'imagefleet API', version: '1', description: 'Bulk image analysis: batches, uploads, results. Every /v1 route wants an API key (Authorization: Bearer ifk_...).' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
