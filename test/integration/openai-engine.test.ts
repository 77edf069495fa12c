import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type ResultLine } from '@imagefleet/core';
import { sniffImageFormat } from '@imagefleet/imaging';
import { StoreRegistry } from '@imagefleet/storage';
import { taggingTask, type ModelTaskResult } from '@imagefleet/tasks';
import { startWorker } from '@imagefleet/worker';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer, waitForBatchEnd } from '../helpers/producer.js';
import { syntheticPhoto } from '../helpers/images.js';

/**
 * A contract test of the OpenAI-compatible backend against a stand-in server that speaks the
 * protocol and records what it is sent. It proves the requests are right, not that a real
 * llama-server or vLLM answers well; the llama.cpp backend is the one tested for real.
 */
interface Recorded {
  body: { messages: { content: { type: string; image_url?: { url: string }; text?: string }[] }[]; response_format: { type: string; json_schema: { schema: unknown; strict: boolean } }; max_tokens: number; seed: number };
  authorization: string | undefined;
}

let services: TestServices;
let server: Server;
let baseUrl: string;
const requests: Recorded[] = [];
let inFlight = 0;
let mostInFlight = 0;
let failNext500 = true;

const answer = JSON.stringify({ category: 'footwear', title: 'Trail shoe', attributes: { colour: 'orange' }, tags: ['trail', 'running'] });

before(async () => {
  services = await startServices();
  await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
  server = createServer((request, response) => {
    const json = (status: number, value: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(value));
    };
    if (request.method === 'GET' && request.url === '/v1/models') return json(200, { data: [{ id: 'fake-vlm' }] });
    if (request.method === 'GET' && request.url === '/props') return json(200, { total_slots: 3 });
    if (request.method !== 'POST' || request.url !== '/v1/chat/completions') return json(404, { error: 'not found' });
    let raw = '';
    request.on('data', (chunk) => (raw += chunk));
    request.on('end', () => {
      const body = JSON.parse(raw) as Recorded['body'];
      requests.push({ body, authorization: request.headers.authorization });
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      setTimeout(() => {
        inFlight -= 1;
        if (failNext500) {
          failNext500 = false;
          return json(500, { error: 'temporarily overloaded' });
        }
        const text = body.messages[0]!.content.find((part) => part.type === 'text')!.text!;
        const truncate = text.includes('TRUNCATE');
        json(200, {
          model: 'fake-vlm',
          choices: [{ message: { content: truncate ? answer.slice(0, 20) : answer }, finish_reason: truncate ? 'length' : 'stop' }],
          usage: { prompt_tokens: 321, completion_tokens: truncate ? body.max_tokens : 40 },
          timings: { prompt_ms: 12.5, predicted_ms: 30.25 },
        });
      }, 30);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

after(async () => {
  server?.close();
  await services?.stop();
});

test('ENGINE=openai: image as a data URL, the task schema as response_format, slots from the server, retries', async () => {
  const env = testEnv(services, { ENGINE: 'openai', OPENAI_BASE_URL: baseUrl, OPENAI_API_KEY: 'sekret', WORKER_CONCURRENCY: '8' });
  const config = testConfig(env);
  const photos = new StoreRegistry(services.s3);
  const keys = Array.from({ length: 9 }, (_, i) => `shop/${i}.jpg`);
  await Promise.all(keys.map(async (key, i) => photos.open('s3://photos').put(key, await syntheticPhoto(900 + i, 320, 240))));
  const producer = await startTestProducer(config);
  const worker = await startWorker(config, createLogger('test-worker', 'silent'));
  try {
    const created = await producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'tagging', source: { keys, bucket: 'photos' } } });
    const status = await waitForBatchEnd(producer, created.json().batchId, 60_000);
    assert.deepEqual([status.total, status.completed, status.failed], [9, 9, 0]);

    assert.equal(mostInFlight <= 3, true, `server saw ${mostInFlight} requests at once; it has 3 slots`);
    assert.ok(requests.length >= 10, 'the 500 must have been retried');
    for (const { body, authorization } of requests) {
      assert.equal(authorization, 'Bearer sekret');
      const image = body.messages[0]!.content.find((part) => part.type === 'image_url')!.image_url!.url;
      assert.match(image, /^data:image\/jpeg;base64,/);
      assert.deepEqual(sniffImageFormat(Buffer.from(image.split(',')[1]!, 'base64')), { kind: 'image', format: 'jpeg' });
      assert.equal(body.response_format.type, 'json_schema');
      assert.equal(body.response_format.json_schema.strict, true);
      assert.deepEqual(body.response_format.json_schema.schema, taggingTask.schema({}));
      assert.equal(body.max_tokens, taggingTask.maxOutputTokens({}));
      assert.equal(typeof body.seed, 'number');
    }
    const lines = (await (await producer.app.inject({ url: `/v1/batches/${created.json().batchId}/results` })).body).trim().split('\n').map((line) => JSON.parse(line) as ResultLine);
    const result = lines[0]!.result as ModelTaskResult;
    assert.equal(result.model, 'fake-vlm');
    assert.deepEqual(result.tokens, { prompt: 321, completion: 40 });
    assert.deepEqual(result.output, JSON.parse(answer));

    // A custom task whose answers are always cut off: one retry with another seed, then invalid_output with the raw text.
    const before = requests.length;
    const custom = await producer.app.inject({
      method: 'POST',
      url: '/v1/batches',
      payload: { task: 'custom', options: { prompt: 'TRUNCATE please', schema: { type: 'object', properties: { n: { type: 'integer' } } } }, source: { keys: ['shop/0.jpg'], bucket: 'photos' } },
    });
    assert.equal(custom.statusCode, 202, custom.body);
    await waitForBatchEnd(producer, custom.json().batchId, 60_000);
    const failed = JSON.parse((await producer.app.inject({ url: `/v1/batches/${custom.json().batchId}/results` })).body.trim()) as ResultLine;
    assert.equal(failed.error?.code, 'invalid_output');
    assert.match(failed.error?.message ?? '', /output truncated at \d+ tokens \(limit 512\)/);
    assert.equal(failed.error?.raw, answer.slice(0, 20));
    const seeds = requests.slice(before).map((request) => request.body.seed);
    assert.equal(seeds.length, 2);
    assert.notEqual(seeds[0], seeds[1]);
  } finally {
    await worker.stop();
    await producer.close();
    photos.close();
    await deleteRedisPrefix(services.redisUrl, config.queuePrefix);
  }
});
