import type { FastifyReply } from 'fastify';

/** Error bodies share one shape: { error: <code>, message: <what is wrong, naming the field> }. */
export function badRequest(reply: FastifyReply, message: string) {
  return reply.code(400).send({ error: 'bad_request', message });
}

export function notFound(reply: FastifyReply, what: string) {
  return reply.code(404).send({ error: 'not_found', message: `${what} not found` });
}

/** An error a hook or handler throws to answer with its status and { error: code, message }. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** An upload whose bytes are not an image the fleet decodes. */
export function unsupportedMediaType(reply: FastifyReply, message: string) {
  return reply.code(415).send({ error: 'not_an_image', message });
}
