import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelFileError, makeTinyModel, pullModel, type TinyModelFiles } from '@imagefleet/engine';

let dir: string;
let files: TinyModelFiles;
let server: Server;
let base: string;
const ranges: string[] = [];

/** Serves files with Range support, slowly enough that a download can be interrupted. */
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-pull-'));
  files = await makeTinyModel(join(dir, 'source'), { seed: 5, size: 'bench' });
  const served: Record<string, Buffer> = { '/model.gguf': readFileSync(files.model), '/mmproj.gguf': readFileSync(files.mmproj), '/notes.gguf': Buffer.from('not a model at all') };
  server = createServer((request, response) => {
    const body = served[request.url ?? ''];
    if (!body) {
      response.writeHead(404).end();
      return;
    }
    const range = /bytes=(\d+)-(\d*)/.exec(request.headers.range ?? '');
    if (request.headers.range) ranges.push(`${request.method} ${request.url} ${request.headers.range}`);
    const start = range ? Number(range[1]) : 0;
    const end = range && range[2] ? Number(range[2]) : body.length - 1;
    response.writeHead(range ? 206 : 200, {
      'content-type': 'application/octet-stream',
      'content-length': end - start + 1,
      'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${end}/${body.length}` } : {}),
    });
    if (request.method === 'HEAD') return void response.end();
    let position = start;
    const pump = () => {
      while (position <= end) {
        const chunk = body.subarray(position, Math.min(position + 256 * 1024, end + 1));
        position += chunk.length;
        if (!response.write(chunk)) return void response.once('drain', () => setTimeout(pump, 5));
      }
      response.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('an interrupted download resumes from its partial file and ends byte-identical', async () => {
  const target = join(dir, 'pulled');
  const controller = new AbortController();
  let seenBytes = 0;
  await assert.rejects(
    pullModel(`${base}/model.gguf`, target, 'model', {
      signal: controller.signal,
      onProgress: ({ downloadedBytes }) => {
        seenBytes = downloadedBytes;
        if (downloadedBytes > 8 * 1024 * 1024) controller.abort();
      },
    }),
  );
  assert.ok(seenBytes > 8 * 1024 * 1024 && seenBytes < readFileSync(files.model).length, `interrupted at ${seenBytes}`);
  ranges.length = 0;
  const path = await pullModel(`${base}/model.gguf`, target, 'model');
  assert.equal(sha(path), sha(files.model));
  const resumedFrom = ranges.map((range) => Number(/bytes=(\d+)-/.exec(range)?.[1] ?? 0)).filter((start) => start > 0);
  assert.ok(resumedFrom.some((start) => start >= 8 * 1024 * 1024), `no request resumed past the first 8 MiB: ${ranges.join('; ')}`);
  const mmproj = await pullModel(`${base}/mmproj.gguf`, target, 'mmproj');
  assert.equal(sha(mmproj), sha(files.mmproj));
});

test('a pulled file that is not the expected GGUF is reported', async () => {
  await assert.rejects(pullModel(`${base}/notes.gguf`, join(dir, 'bad'), 'model'), (error: Error) => error instanceof ModelFileError && /not a GGUF file/.test(error.message));
  await assert.rejects(pullModel(`${base}/mmproj.gguf`, join(dir, 'swapped'), 'model'), /vision projector/);
});
