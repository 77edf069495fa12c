import { createHash } from 'node:crypto';
import { ImagefleetError, type Logger } from '@imagefleet/core';
import type { PreparedJpeg } from '@imagefleet/imaging';
import { cachedValidator, describeErrors, type ModelTask, type ModelTaskResult } from '@imagefleet/tasks';
import type { CrashRecord, EngineSupervisor } from '@imagefleet/engine';

export interface ModelStepPolicy {
  timeoutMs: number;
  msPerToken: number;
}

/** The task's answer validator (compiled once per schema, a failed compile included); a schema Ajv refuses fails the job for good. */
function validatorFor(schema: Record<string, unknown>) {
  try {
    return cachedValidator(schema);
  } catch (error) {
    throw new ImagefleetError('invalid_job', `The task's schema cannot be compiled: ${(error as Error).message}`, { cause: error });
  }
}

/** Seeds derive from the job id: a rerun of the same job reproduces its answer. */
function seedFor(jobId: string, attempt: number): number {
  return createHash('sha256').update(jobId).digest().readUInt32LE(0) + attempt;
}

/**
 * The engine step of a model task: generate under the task's JSON schema (the supervisor gates
 * slots and judges engine failures), then validate. Truncated or invalid output gets one more try
 * with another seed; after that the job fails with invalid_output and keeps the raw text and both seeds.
 */
export async function runModelTask(
  engine: EngineSupervisor,
  task: ModelTask,
  image: PreparedJpeg,
  options: Record<string, unknown>,
  job: { id: string; crashes: CrashRecord },
  policy: ModelStepPolicy,
  log: Logger,
): Promise<ModelTaskResult> {
  const started = performance.now();
  const imageJpeg = image.jpeg;
  const schema = task.schema(options);
  const validate = validatorFor(task.answerSchema?.(schema) ?? schema);
  const maxTokens = task.maxOutputTokens(options);
  const prompt = task.prompt(options);
  const deadlineMs = policy.timeoutMs + maxTokens * policy.msPerToken;
  let problem = '';
  let raw = '';
  for (let attempt = 1; attempt <= 2; attempt++) {
    const seed = seedFor(job.id, attempt);
    const answer = await engine.analyze({ imageJpeg, prompt, schema, maxTokens, seed, deadlineMs }, job.crashes);
    raw = answer.text;
    let output: unknown;
    try {
      output = JSON.parse(answer.text);
    } catch {
      output = undefined;
    }
    if (answer.truncated) problem = `output truncated at ${answer.completionTokens} tokens (limit ${maxTokens})`;
    else if (output === undefined) problem = 'output is not JSON';
    else if (!validate(output)) problem = `output does not match the schema: ${describeErrors(validate)}`;
    else {
      return {
        output: output as Record<string, unknown>,
        warnings: task.warnings(output, options),
        model: engine.modelName,
        tokens: { prompt: answer.promptTokens, completion: answer.completionTokens },
        timings: { promptMs: Math.round(answer.promptMs), generationMs: Math.round(answer.generationMs), totalMs: Math.round(performance.now() - started) },
        seed,
        attempts: attempt,
      };
    }
    log.info({ attempt, problem }, 'model output rejected');
  }
  const seeds = [seedFor(job.id, 1), seedFor(job.id, 2)];
  throw new ImagefleetError('invalid_output', `The model's output was invalid twice: ${problem}`, { detail: { raw: raw.slice(0, 4000), seeds } });
}
