import { readFile, writeFile } from 'node:fs/promises';
import { EVAL_TASKS, LabelsError, collectPredictions, evaluate, parseLabels, reportMarkdown, writeEvalSample } from '@imagefleet/eval';
import type { ApiClient } from '../api-client.js';
import { CliError, ExitCode } from '../cli-error.js';

async function readLabels(path: string) {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read --labels ${path}: ${(error as Error).message}`, ExitCode.usage);
  }
  try {
    return parseLabels(text);
  } catch (error) {
    if (error instanceof LabelsError) throw new CliError(`${path}: ${error.message}`, ExitCode.usage);
    throw error;
  }
}

/**
 * `imagefleet eval <batchId> --labels labels.jsonl [--out report.md] [--json report.json]`: the
 * batch's results (through the API) scored against the labels; Markdown to --out or stdout.
 */
export async function evalBatch(client: ApiClient, batchId: string, options: { labels?: string; out?: string; json?: string }): Promise<number> {
  if (!options.labels) throw new CliError('eval needs --labels labels.jsonl (one {"key","fields"} per line)', ExitCode.usage);
  const labels = await readLabels(options.labels);
  const status = await client.batchStatus(batchId);
  if (!EVAL_TASKS.includes(status.task)) throw new CliError(`eval scores ${EVAL_TASKS.join(' and ')} batches; batch ${batchId} ran ${status.task}`, ExitCode.usage);
  const report = evaluate(status.task, labels, await collectPredictions(labels, client.results(batchId)), batchId);
  const markdown = reportMarkdown(report);
  if (options.json) await writeFile(options.json, `${JSON.stringify(report, null, 2)}\n`);
  if (options.out) await writeFile(options.out, markdown);
  else process.stdout.write(markdown);
  return ExitCode.ok;
}

/** `imagefleet eval-sample --out DIR [--count N] [--seed N]`: the generated labelled sample. */
export async function evalSample(out: string | undefined, count: string | undefined, seed: string | undefined): Promise<number> {
  if (!out) throw new CliError('eval-sample needs --out DIR', ExitCode.usage);
  const number = (text: string | undefined, flag: string, max: number) => {
    if (text === undefined) return undefined;
    if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) throw new CliError(`${flag} must be an integer from 1 to ${max}`, ExitCode.usage);
    return Number(text);
  };
  const sets = await writeEvalSample(out, { count: number(count, '--count', 1000), seed: number(seed, '--seed', 1_000_000) });
  for (const set of sets) {
    const documents = set.documents > 0 ? ` (${set.documents} of them two-page PDFs)` : '';
    process.stdout.write(`${set.task}: ${set.count} inputs${documents} in ${set.dir}, labels ${set.labels}\n`);
    process.stdout.write(`  imagefleet submit ${set.dir} --task ${set.task} --wait   then   imagefleet eval <batchId> --labels ${set.labels} --out ${set.task}-report.md\n`);
  }
  return ExitCode.ok;
}
