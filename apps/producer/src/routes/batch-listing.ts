import type { FastifyInstance } from 'fastify';
import { BATCH_ID_PATTERN, type BatchState } from '@imagefleet/core';
import { toBatchStatus, type BatchPosition } from '@imagefleet/jobs';
import type { ProducerDeps } from '../deps.js';
import { servedModelsFor } from '../model-routing.js';
import { badRequest } from '../http-errors.js';
import { callerOf } from '../http/auth.js';
import { BATCH_STATES, batchStatusSchema, guardedErrors } from '../http/schemas.js';

const BATCH_ID = new RegExp(BATCH_ID_PATTERN);
const QUERY_PARAMETERS = ['state', 'limit', 'cursor'];

/** The opaque `cursor`: base64url of "<created at ms>.<batch id>" of the last batch a page went through. */
export function encodeCursor(position: BatchPosition): string {
  return Buffer.from(`${position.createdAtMs}.${position.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): BatchPosition | undefined {
  const match = /^(\d{1,16})\.(.+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || !BATCH_ID.test(match[2]!)) return undefined;
  return { createdAtMs: Number(match[1]), id: match[2]! };
}

/** `state` as repeated parameters and/or comma-separated lists; undefined names the first unknown one. */
function parseStates(values: string[]): { states: BatchState[]; unknown?: string } {
  const states = values.flatMap((value) => value.split(',')).map((value) => value.trim()).filter(Boolean);
  const unknown = states.find((state) => !BATCH_STATES.includes(state as BatchState));
  return { states: states as BatchState[], unknown };
}

/** Querystring values arrive as text (the app's Ajv coerces nothing): a repeated parameter as an array. */
interface ListQuery {
  state?: string | string[];
  limit?: string;
  cursor?: string;
}

function parseLimit(text: string | undefined): number | undefined {
  if (text === undefined) return 50;
  const limit = /^\d{1,3}$/.test(text) ? Number(text) : 0;
  return limit >= 1 && limit <= 500 ? limit : undefined;
}

/** GET /v1/batches: the caller's batches (every batch for admin and AUTH=off), newest first, paged. */
export function batchListingRoutes(deps: ProducerDeps) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.get<{ Querystring: ListQuery }>(
      '/v1/batches',
      {
        config: { scope: 'read' },
        schema: {
          querystring: {
            type: 'object',
            properties: {
              state: { anyOf: [{ type: 'string', maxLength: 200 }, { type: 'array', items: { type: 'string', maxLength: 200 }, maxItems: 10 }] },
              limit: { type: 'string', maxLength: 10 },
              cursor: { type: 'string', maxLength: 200 },
            },
          },
          response: {
            200: { type: 'object', properties: { batches: { type: 'array', items: batchStatusSchema }, next: { type: ['string', 'null'] } } },
            ...guardedErrors(),
          },
        },
      },
      async (request, reply) => {
        const unknownParameter = Object.keys(request.query).find((name) => !QUERY_PARAMETERS.includes(name));
        if (unknownParameter !== undefined) return badRequest(reply, `${JSON.stringify(unknownParameter.slice(0, 50))} is not a parameter of this route (${QUERY_PARAMETERS.join(', ')})`);
        const limit = parseLimit(request.query.limit);
        if (limit === undefined) return badRequest(reply, 'limit must be an integer from 1 to 500');
        const { states, unknown } = parseStates([request.query.state ?? []].flat());
        if (unknown !== undefined) return badRequest(reply, `state ${JSON.stringify(unknown.slice(0, 50))} is not a batch state (${BATCH_STATES.join(', ')})`);
        const after = request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor);
        if (request.query.cursor !== undefined && !after) return badRequest(reply, 'cursor is not one this API returned (pass the "next" of the previous page unchanged)');
        const caller = callerOf(request);
        if (!caller.seesAll && caller.tenant === undefined) return { batches: [], next: null };
        const page = await deps.batchIndex.page({ tenant: caller.seesAll ? undefined : caller.tenant, states, limit, after });
        const now = Date.now();
        const served = await servedModelsFor(page.batches, deps.workers);
        return { batches: page.batches.map((record) => toBatchStatus(record, now, served)), next: page.next ? encodeCursor(page.next) : null };
      },
    );
  };
}
