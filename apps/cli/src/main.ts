#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError } from '@imagefleet/core';
import { ApiClient } from './api-client.js';
import { CliError, ExitCode } from './cli-error.js';
import { progressLine } from './progress.js';
import { exportResults } from './commands/results.js';
import { demo } from './commands/demo.js';
import { serveUntilSignal, startStack } from './commands/serve.js';
import { submit } from './commands/submit.js';
import { inspectModel, makeSynthetic, makeTiny, planModel, pull } from './commands/models.js';
import { runPerGpu } from './commands/gpus.js';
import { buildEngine } from './commands/engine.js';
import { keys } from './commands/keys.js';
import { listBatches } from './commands/batches.js';
import { showFleet } from './commands/fleet.js';

const USAGE = `Usage: imagefleet <command> [options]

Commands:
  up                         API + worker in one process (starts redis-server if none answers)
  producer                   the HTTP API only
  worker [--gpus all|0,1]    a queue worker; --gpus forks one worker process per GPU, each pinned and planned on its own
  submit <dir|s3://b/prefix> --task inspect [--wait] [--options JSON] [--webhook URL] [--batch-id ID] [--model MODEL_ID]
                             --model: a model task goes to the workers of that model only (ids as \`fleet\` lists them)
  status <batchId> [--json]
  batches [--state running,listing] [--limit N]   the newest batches (id, task, state, done/total, created)
  fleet [--json]             the models the fleet serves now: each live worker (engine, device, slots, images/s), per-model totals and queue
  results <batchId> [--format jsonl|csv] [--out FILE]
  models make-tiny <dir> [--seed N] [--size test|bench]   generate the tiny random-weight model
  models make-synthetic --like qwen3-vl-2b|qwen3-vl-4b|qwen3-vl-8b [--type q8_0|q4_0|f16] [--mmproj-type f16|q8_0] [--seed N] <dir>
                             a random-weight model + mmproj of a published model's shape (streamed: 2-17 GB)
  models inspect <file.gguf>   architecture, size, parameters, context, projector facts
  models pull <hf:owner/repo/file.gguf | URL> [--mmproj <uri>] [--dir DIR]   download with resume
  models plan <model> <mmproj> | --reference qwen3-vl-4b:Q4_K_M [--memory GB]   slots the planner gives
  engine build [--backend cpu|cuda|vulkan] [--cuda-arch "75-real;90-real;90-virtual"]
                             build llama-server from the bundled llama.cpp source (cached under ENGINE_CACHE_DIR)
  demo [dir] [--task tagging]  run a batch over the bundled samples on embedded defaults
  keys create --name NAME [--scope submit,read,metrics,admin]   prints a new API key's token (once)
  keys list | keys revoke <id>                                  (these talk to Redis directly)

Options: --api URL (default $IMAGEFLEET_API or http://127.0.0.1:8080), --api-key TOKEN (default $IMAGEFLEET_API_KEY)
Exit codes: 0 ok, 1 error, 2 usage or configuration, 3 batch finished with failed inputs, 4 batch cancelled`;

function apiClient(flag: string | undefined, keyFlag: string | undefined): ApiClient {
  return new ApiClient(flag ?? process.env.IMAGEFLEET_API ?? 'http://127.0.0.1:8080', keyFlag ?? process.env.IMAGEFLEET_API_KEY);
}

function parseJsonObject(text: string | undefined, flag: string): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new CliError(`${flag} must be a JSON object`, ExitCode.usage);
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      task: { type: 'string' },
      wait: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      format: { type: 'string', default: 'jsonl' },
      out: { type: 'string' },
      api: { type: 'string' },
      'api-key': { type: 'string' },
      name: { type: 'string' },
      scope: { type: 'string' },
      options: { type: 'string' },
      webhook: { type: 'string' },
      'batch-id': { type: 'string' },
      model: { type: 'string' },
      state: { type: 'string' },
      limit: { type: 'string' },
      seed: { type: 'string' },
      size: { type: 'string' },
      reference: { type: 'string' },
      memory: { type: 'string' },
      mmproj: { type: 'string' },
      dir: { type: 'string' },
      gpus: { type: 'string' },
      backend: { type: 'string' },
      'cuda-arch': { type: 'string' },
      like: { type: 'string' },
      type: { type: 'string' },
      'mmproj-type': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? ExitCode.ok : ExitCode.usage;
  }
  const need = (what: string) => {
    if (!rest[0]) throw new CliError(`${command} needs ${what}\n${USAGE}`, ExitCode.usage);
    return rest[0];
  };
  switch (command) {
    case 'up': {
      const env = { ...process.env, LOCAL_SOURCE_ROOTS: process.env.LOCAL_SOURCE_ROOTS ?? process.cwd() };
      await serveUntilSignal(await startStack({ producer: true, worker: true, localRedis: true, localAuth: true }, env));
      return ExitCode.ok;
    }
    case 'producer':
      await serveUntilSignal(await startStack({ producer: true, worker: false, localRedis: false }, process.env));
      return ExitCode.ok;
    case 'worker':
      if (values.gpus !== undefined) return runPerGpu(values.gpus, process.argv.slice(2));
      await serveUntilSignal(await startStack({ producer: false, worker: true, localRedis: false }, process.env));
      return ExitCode.ok;
    case 'submit':
      return submit(apiClient(values.api, values['api-key']), need('a directory or s3://bucket/prefix'), {
        task: values.task ?? 'inspect',
        wait: values.wait,
        options: parseJsonObject(values.options, '--options'),
        webhook: values.webhook,
        batchId: values['batch-id'],
        model: values.model,
      });
    case 'status': {
      const status = await apiClient(values.api, values['api-key']).batchStatus(need('a batch id'));
      const waiting = status.waitingFor ? `waiting for ${status.waitingFor}: ${status.detail ?? ''}\n` : '';
      process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : `${status.id} ${status.state}${status.model ? ` (model ${status.model})` : ''}\n${progressLine(status)}\n${waiting}`);
      return ExitCode.ok;
    }
    case 'batches':
      return listBatches(apiClient(values.api, values['api-key']), { state: values.state, limit: values.limit });
    case 'fleet':
      return showFleet(apiClient(values.api, values['api-key']), values.json);
    case 'results':
      return exportResults(apiClient(values.api, values['api-key']), need('a batch id'), values.format, values.out);
    case 'models': {
      const [action, ...args] = rest;
      if (action === 'make-tiny') return makeTiny(args[0] ?? 'data/models/tiny', values.seed, values.size);
      if (action === 'make-synthetic') return makeSynthetic(args[0], values.like, values.type, values['mmproj-type'], values.seed);
      if (action === 'inspect' && args[0]) return inspectModel(args[0]);
      if (action === 'plan') return planModel(args, values.reference, values.memory);
      if (action === 'pull' && args[0]) return pull(args[0], values.mmproj, values.dir ?? process.env.MODELS_DIR ?? 'data/models');
      throw new CliError(`models needs make-tiny <dir> | make-synthetic --like NAME <dir> | inspect <file.gguf> | pull <uri> [--mmproj <uri>] [--dir DIR] | plan <model> <mmproj> | plan --reference NAME:QUANT [--memory GB]\n${USAGE}`, ExitCode.usage);
    }
    case 'engine':
      if (rest[0] === 'build') return buildEngine(values.backend, values['cuda-arch']);
      throw new CliError(`engine needs build [--backend cpu|cuda|vulkan]\n${USAGE}`, ExitCode.usage);
    case 'demo':
      return demo(rest[0], values.task ?? 'tagging');
    case 'keys':
      return keys(rest[0], rest.slice(1), { name: values.name, scope: values.scope });
    default:
      throw new CliError(`Unknown command ${JSON.stringify(command)}\n${USAGE}`, ExitCode.usage);
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof CliError) {
      process.stderr.write(`imagefleet: ${error.message}\n`);
      process.exit(error.exitCode);
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`imagefleet: ${error.message}\n`);
      process.exit(ExitCode.usage);
    }
    const code = (error as { code?: string }).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      process.stderr.write(`imagefleet: ${(error as Error).message}\n`);
      process.exit(ExitCode.usage);
    }
    process.stderr.write(`imagefleet: ${(error as Error).message ?? String(error)}\n`);
    process.exit(ExitCode.failure);
  },
);
