import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ApiClient } from '../api-client.js';
import { CliError, ExitCode } from '../cli-error.js';
import { toCsv } from '@imagefleet/core';

async function* jsonl(lines: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const line of lines) yield `${line}\n`;
}

export async function exportResults(client: ApiClient, batchId: string, format: string, out: string | undefined): Promise<number> {
  if (format !== 'jsonl' && format !== 'csv') throw new CliError(`--format must be jsonl or csv (got ${format})`, ExitCode.usage);
  const lines = client.results(batchId);
  const body = Readable.from(format === 'csv' ? toCsv(lines) : jsonl(lines));
  await pipeline(body, out ? createWriteStream(out) : process.stdout);
  return ExitCode.ok;
}
