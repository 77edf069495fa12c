import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { batchIdOfJob, deriveJobId, type ResultLine } from '@imagefleet/core';
import { looksLikePdf, sniffImageFormat } from '@imagefleet/imaging';
import { resultLayout } from '@imagefleet/storage';
import { unstorableLine } from '@imagefleet/jobs';
import { getTask } from '@imagefleet/tasks';
import type { ProducerDeps } from '../deps.js';
import type { BatchLister } from '../lister.js';
import { badRequest, notFound, unsupportedMediaType } from '../http-errors.js';
import { callerOf } from '../http/auth.js';
import { guardedErrors } from '../http/schemas.js';
import { visibleBatch } from '../tenancy.js';
import { modelProblem } from '../model-routing.js';
import { routeOf } from '../batch-jobs.js';

/** Multipart limits of an upload: one file, a few short fields. */
const FIELD_MAX_BYTES = 1024 * 1024;

/** A safe single path segment from an uploaded file name. */
export function safeFileName(name: string | undefined): string {
  const base = (name ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '').slice(-120);
  return cleaned === '' ? 'upload' : cleaned;
}

const jobStatusSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'string' },
    batchId: { type: 'string' },
    key: { type: 'string' },
    state: { type: 'string', description: 'queued, waiting, active, delayed, prioritized, completed or failed' },
    result: { type: 'object', additionalProperties: true },
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
  },
} as const;

/** POST /v1/images stores an upload and enqueues it as a one-input batch; GET /v1/jobs/:id reports it. */
export function uploadRoutes(deps: ProducerDeps, lister: BatchLister) {
  return async function register(app: FastifyInstance): Promise<void> {
    const uploadSchema = {
      consumes: ['multipart/form-data'],
      response: { 202: { type: 'object', properties: { jobId: { type: 'string' }, batchId: { type: 'string' } } }, ...guardedErrors(413, 415) },
    };
    app.post('/v1/images', { config: { scope: 'submit' }, schema: uploadSchema }, async (request, reply) => {
      if (!request.isMultipart()) return badRequest(reply, 'body must be multipart/form-data with a "file" part and a "task" field');
      let file: { name: string; bytes: Buffer } | undefined;
      const fields: Record<string, string> = {};
      for await (const part of request.parts({ limits: { fileSize: deps.config.uploadMaxBytes, files: 1, fields: 10, parts: 11, fieldSize: FIELD_MAX_BYTES, fieldNameSize: 100, headerPairs: 20 } })) {
        if (part.type === 'file') {
          if (part.fieldname !== 'file') return badRequest(reply, `unexpected file field "${part.fieldname}"; send the image as "file"`);
          file = { name: part.filename, bytes: await part.toBuffer() };
        } else {
          if (part.valueTruncated) return badRequest(reply, `${part.fieldname} must be at most ${FIELD_MAX_BYTES} bytes`);
          fields[part.fieldname] = String(part.value);
        }
      }
      if (!file) return badRequest(reply, 'file is missing: send the image as the multipart field "file"');
      if (file.bytes.length === 0) return badRequest(reply, 'file is empty');
      // The bytes decide, not the name: any file name is accepted, a non-image is refused now.
      if (sniffImageFormat(file.bytes).kind !== 'image' && !looksLikePdf(file.bytes)) {
        return unsupportedMediaType(reply, 'file is not an image in a supported format (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIF) nor a PDF');
      }
      const taskName = fields.task ?? '';
      const task = getTask(taskName);
      if (!task) return badRequest(reply, `task must be one of the known tasks (got ${JSON.stringify(taskName)})`);
      let options: Record<string, unknown> = {};
      if (fields.options !== undefined) {
        try {
          options = JSON.parse(fields.options) as Record<string, unknown>;
        } catch {
          return badRequest(reply, 'options must be a JSON object');
        }
        if (typeof options !== 'object' || options === null || Array.isArray(options)) return badRequest(reply, 'options must be a JSON object');
      }
      const optionsProblem = task.validateOptions(options);
      if (optionsProblem) return badRequest(reply, optionsProblem);
      const { model } = fields;
      const wrongModel = modelProblem(model, taskName);
      if (wrongModel) return badRequest(reply, wrongModel);

      const batchId = `u${randomUUID().replaceAll('-', '')}`;
      const key = `${batchId}/${safeFileName(file.name)}`;
      await deps.stores.open(deps.config.uploadsUrl).put(key, file.bytes);
      await deps.batches.create({
        id: batchId,
        task: taskName,
        source: { upload: { key } },
        sourceStore: deps.config.uploadsUrl,
        options,
        resultsUrl: deps.config.resultsUrl,
        tenant: callerOf(request).tenant,
        model,
      });
      lister.start(batchId);
      const jobId = deriveJobId(batchId, key);
      request.log.info({ jobId, batchId, model, bytes: file.bytes.length }, 'upload accepted');
      return reply.code(202).send({ jobId, batchId });
    });

    app.get<{ Params: { id: string } }>(
      '/v1/jobs/:id',
      { config: { scope: 'read' }, schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: `^[A-Za-z0-9_]{1,64}-[0-9a-f]{24}$` } } }, response: { 200: jobStatusSchema, ...guardedErrors(404) } } },
      async (request, reply) => {
        const jobId = request.params.id;
        const batchId = batchIdOfJob(jobId)!;
        const batch = await visibleBatch(deps.batches, callerOf(request), batchId);
        if (!batch) return notFound(reply, `job ${jobId}`);
        const outcome = await deps.batches.outcome(batchId, jobId);
        if (outcome?.status === 'unstorable') return { id: jobId, batchId, key: outcome.key, state: 'failed', error: unstorableLine(outcome.key).error };
        // A split document's own result is joined by finalize: until then it is in progress.
        const joined = batch.state === 'completed' || batch.state === 'completed_with_errors';
        if (outcome?.status === 'document' && !joined) return { id: jobId, batchId, key: outcome.key, state: 'active', pages: outcome.pages };
        if (outcome) {
          const store = deps.stores.open(batch.resultsUrl);
          const line = JSON.parse((await store.get(resultLayout.resultKey(batchId, outcome.key), { maxBytes: 64 * 1024 * 1024 })).toString('utf8')) as ResultLine;
          return { id: jobId, batchId, key: outcome.key, state: line.status === 'ok' ? 'completed' : 'failed', result: line.result, error: line.error };
        }
        const job = await deps.jobs.imageJob(jobId, routeOf(batch));
        if (job) return { id: jobId, batchId, key: job.data.source.key, state: job.state };
        if (batch.state === 'listing') return { id: jobId, batchId, state: 'queued' };
        return notFound(reply, `job ${jobId}`);
      },
    );
  };
}

