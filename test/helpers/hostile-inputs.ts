import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { syntheticPhoto } from './images.js';
import type { TestProducer } from './producer.js';

/** Object keys that must be refused before any request: [what, key]. */
export const HOSTILE_KEYS: [string, string][] = [
  ['.. into another bucket', '../secret/x.jpg'],
  ['//', 'a//b.jpg'],
  ['leading /', '/a.jpg'],
  ['NUL', 'a\0b.jpg'],
  ['newline', 'a\nb.jpg'],
  ['. segment', 'a/./b.jpg'],
  ['over 1024 bytes', `${'é'.repeat(600)}.jpg`],
];

/**
 * Under `root`: `src` holding one photo, a link to a file outside the root, a link to a directory
 * outside it, a FIFO and a text file; `escape`, a link to a directory outside the root; `collide`
 * holding x.jpg and x.jpg.json/y.jpg (their result paths collide in a directory store). `outside`
 * holds secret.jpg.
 */
export async function hostileLocalTree(root: string, outside: string): Promise<{ src: string; escape: string; collide: string }> {
  const src = join(root, 'src');
  const collide = join(root, 'collide');
  mkdirSync(src, { recursive: true });
  mkdirSync(join(collide, 'x.jpg.json'), { recursive: true });
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'secret.jpg'), await syntheticPhoto(900, 64, 48));
  writeFileSync(join(src, 'a.jpg'), await syntheticPhoto(901, 64, 48));
  writeFileSync(join(src, 'notes.txt'), 'not an image');
  symlinkSync(join(outside, 'secret.jpg'), join(src, 'link.jpg'));
  symlinkSync(outside, join(src, 'linkdir'));
  execFileSync('mkfifo', [join(src, 'fifo.jpg')]);
  symlinkSync(outside, join(root, 'escape'));
  writeFileSync(join(collide, 'x.jpg'), await syntheticPhoto(902, 64, 48));
  writeFileSync(join(collide, 'x.jpg.json', 'y.jpg'), await syntheticPhoto(903, 64, 48));
  return { src, escape: join(root, 'escape'), collide };
}

export async function redisUsedMemory(redisUrl: string): Promise<number> {
  const redis = new Redis(redisUrl);
  try {
    return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  } finally {
    redis.disconnect();
  }
}

/**
 * A custom batch of `count` keys whose options hold `optionBytes` (a schema description), listed by
 * the producer: its jobs wait in Redis (no worker takes model jobs here). Redis used_memory before
 * and after, then the batch is cancelled.
 */
export async function bigOptionsBatch(producer: TestProducer, redisUrl: string, count = 400, optionBytes = 1_000_000) {
  const id = `big_${randomUUID().slice(0, 8)}`;
  const schema = { type: 'object', description: 'd'.repeat(optionBytes), properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };
  const before = await redisUsedMemory(redisUrl);
  const keys = Array.from({ length: count }, (_, i) => `p${i}.jpg`);
  await producer.deps.batches.create({ id, task: 'custom', source: { keys, bucket: 'photos' }, sourceStore: 's3://photos', options: { prompt: 'Describe', schema }, resultsUrl: producer.deps.config.resultsUrl });
  producer.lister.start(id);
  await producer.lister.idle();
  const after = await redisUsedMemory(redisUrl);
  const jobs = await producer.deps.queues.vlm.getPrioritizedCount();
  await producer.app.inject({ method: 'DELETE', url: `/v1/batches/${id}` });
  return { before, after, jobs };
}
