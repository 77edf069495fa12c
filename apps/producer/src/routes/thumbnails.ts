import type { FastifyInstance } from 'fastify';
import { BATCH_ID_PATTERN, ImagefleetError } from '@imagefleet/core';
import { objectKeyProblem } from '@imagefleet/storage';
import type { ProducerDeps } from '../deps.js';
import { badRequest, notFound } from '../http-errors.js';
import { callerOf } from '../http/auth.js';
import { bodyOf, errorSchema, guardedErrors } from '../http/schemas.js';
import { visibleBatch } from '../tenancy.js';
import { Thumbnails } from '../thumbnails.js';

/** Error codes of an input that is there but not a displayable image (the worker's own codes). */
const UNDISPLAYABLE = new Set(['empty', 'not_an_image', 'corrupt_image', 'too_many_pixels', 'too_large']);

/** GET /v1/batches/:id/thumbnail?key=…: a 256 px JPEG of one finished input, for the console's results grid. */
export function thumbnailRoutes(deps: ProducerDeps) {
  const thumbnails = new Thumbnails(deps);
  return async function register(app: FastifyInstance): Promise<void> {
    app.get<{ Params: { id: string }; Querystring: { key: string } }>(
      '/v1/batches/:id/thumbnail',
      {
        config: { scope: 'read' },
        schema: {
          params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: BATCH_ID_PATTERN } } },
          querystring: { type: 'object', required: ['key'], properties: { key: { type: 'string', maxLength: 1024 } } },
          response: {
            200: bodyOf('A JPEG of the input, at most 256 px on its longer side', 'image/jpeg'),
            ...guardedErrors(404),
            422: { ...errorSchema, description: 'the input is not a displayable image; error is its code (empty, not_an_image, corrupt_image, too_many_pixels, too_large)' },
          },
        },
      },
      async (request, reply) => {
        const { key } = request.query;
        const keyProblem = objectKeyProblem(key);
        if (keyProblem) return badRequest(reply, `key is not a valid object key: ${keyProblem}`);
        const batch = await visibleBatch(deps.batches, callerOf(request), request.params.id);
        if (!batch) return notFound(reply, `batch ${request.params.id}`);
        try {
          const jpeg = await thumbnails.of(batch, key);
          if (!jpeg) return notFound(reply, `input ${JSON.stringify(key.slice(0, 200))} of batch ${batch.id}`);
          return reply.type('image/jpeg').header('cache-control', 'private, max-age=3600').send(jpeg);
        } catch (error) {
          if (error instanceof ImagefleetError && error.code === 'not_found') return notFound(reply, `input ${JSON.stringify(key.slice(0, 200))}`);
          if (error instanceof ImagefleetError && UNDISPLAYABLE.has(error.code)) return reply.code(422).send({ error: error.code, message: error.message });
          throw error;
        }
      },
    );
  };
}
