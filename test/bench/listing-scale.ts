// npm run bench — listing at scale (issue 11 item 6): a 1,000,000-key source listed and enqueued
// by the producer's BatchLister (the code path of every batch), with LISTING_AHEAD at its default.
//   1. no consumer: the lister must stop at LISTING_AHEAD and stay there;
//   2. a fast consumer (BullMQ workers that only record each input's outcome, in their own
//      process as a fleet's workers are) drains the jobs, so the whole million passes through Redis.
// Each phase reports the CPU per key of Redis, the producer's process and the consumer's process.
// The keys come from a generated store behind the lister's StoreRegistry (s3rver is far too slow
// to list a million keys): everything after store.list() is the real thing, Redis included.
// Each phase gets its own redis-server, so its used_memory_peak is that phase's peak; used_memory
// is sampled too. BENCH_LISTING_KEYS (default 1,000,000), BENCH_CONSUMER_CONCURRENCY (200),
// BENCH_UNLIMITED=1 adds a phase without backpressure (LISTING_AHEAD above the key count).
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLogger, loadConfig, type Config } from '@imagefleet/core';
import type { JobBackend } from '@imagefleet/jobs';
import { BatchLister, closeProducerDeps, createProducerDeps } from '@imagefleet/producer';
import { StoreRegistry, s3SettingsFrom, type BlobInfo, type BlobStore, type ListOptions } from '@imagefleet/storage';
import { startRedisProcess } from '../helpers/redis-process.js';
import { startSampling } from '../helpers/sampling.js';
import { processCpuSeconds, spawnLogged, stopProcess, waitFor } from '../helpers/processes.js';

const KEYS = Number(process.env.BENCH_LISTING_KEYS ?? 1_000_000);
const CONSUMER_CONCURRENCY = Number(process.env.BENCH_CONSUMER_CONCURRENCY ?? 200);
const BATCH_ID = 'listing_bench';
const MiB = 1024 * 1024;

/** A sorted key list of `count` keys, generated page by page as a store lists them. */
class GeneratedKeys implements BlobStore {
  readonly location = 's3://generated-keys';
  constructor(private readonly count: number) {}

  static key(index: number): string {
    return `k/${String(index).padStart(7, '0')}.jpg`;
  }

  async *list(_prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo[]> {
    const pageSize = options.pageSize ?? 1000;
    const after = options.startAfter === undefined ? -1 : Number(/^k\/(\d+)/.exec(options.startAfter)?.[1] ?? -1);
    for (let start = after + 1; start < this.count; start += pageSize) {
      yield Array.from({ length: Math.min(pageSize, this.count - start) }, (_, i) => ({ key: GeneratedKeys.key(start + i), size: 1 }));
    }
  }

  private refuse(): never {
    throw new Error('generated keys can only be listed');
  }
  get = async (): Promise<Buffer> => this.refuse();
  getStream = async (): Promise<Readable> => this.refuse();
  put = async (): Promise<void> => this.refuse();
  putStream = async (): Promise<void> => this.refuse();
  head = async (): Promise<BlobInfo | undefined> => this.refuse();
  async ping(): Promise<void> {}
  close(): void {}
}

/** The producer's stores, with the generated source in place of s3://generated-keys. */
class BenchStores extends StoreRegistry {
  constructor(
    config: Config,
    private readonly generated: GeneratedKeys,
  ) {
    super(s3SettingsFrom(config));
  }

  override open(location: string): BlobStore {
    return location === this.generated.location ? this.generated : super.open(location);
  }
}

async function memoryInfo(backend: JobBackend): Promise<{ used: number; peak: number }> {
  const text = await backend.redis.info('memory');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { used: field('used_memory'), peak: field('used_memory_peak') };
}

/** The consumer (listing-consumer.ts) as a child process: a fleet's workers never share the producer's process. */
async function startFastConsumer(config: Config) {
  const child = spawnLogged(process.execPath, ['--enable-source-maps', fileURLToPath(new URL('./listing-consumer.js', import.meta.url))], {
    ...process.env,
    REDIS_URL: config.redisUrl,
    QUEUE_PREFIX: config.queuePrefix,
    LOG_LEVEL: 'silent',
    BENCH_CONSUMER_CONCURRENCY: String(CONSUMER_CONCURRENCY),
  });
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`the consumer exited: ${child.output()}`);
    return child.output().includes('consumers ready');
  }, 60_000, 'the consumer process');
  return {
    cpuSeconds: () => processCpuSeconds(child.pid!),
    close: () => stopProcess(child),
  };
}

/** Redis's own CPU seconds (INFO cpu), main thread and background threads together. */
async function redisCpuSeconds(backend: JobBackend): Promise<number> {
  const text = await backend.redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
  return field('used_cpu_sys') + field('used_cpu_user');
}

interface PhaseResult {
  phase: string;
  listingAhead: number;
  enqueued: number;
  done: number;
  seconds: number;
  keysPerSecond: number;
  peakMiB: number;
  sampledPeakMiB: number;
  jobHashBytes: number | null;
  doneHashMiB: number;
  /** CPU per key passed, in microseconds: Redis, the producer's process (lister), the consumer's process. */
  redisUsPerKey: number;
  producerUsPerKey: number;
  consumerUsPerKey: number;
}

async function phase(name: string, listingAhead: number, consume: boolean): Promise<PhaseResult> {
  const redisServer = await startRedisProcess({ appendonly: false });
  const config = loadConfig({ REDIS_URL: redisServer.url, QUEUE_PREFIX: 'bench', LOG_LEVEL: 'silent', LISTING_AHEAD: String(listingAhead), RESULTS_URL: '/tmp/imagefleet-bench-results' });
  const generated = new GeneratedKeys(KEYS);
  const deps = { ...createProducerDeps(config, createLogger('bench', 'silent')), stores: new BenchStores(config, generated) };
  const { batches } = deps.background;
  const lister = new BatchLister(deps);
  const consumer = consume ? await startFastConsumer(config) : undefined;
  const memory = startSampling(async () => (await memoryInfo(deps.background)).used, 250);
  try {
    await batches.create({ id: BATCH_ID, task: 'inspect', source: { s3: { bucket: 'generated-keys', prefix: 'k/' } }, sourceStore: generated.location, resultsUrl: config.resultsUrl });
    const started = performance.now();
    const cpuBefore = { redis: await redisCpuSeconds(deps.background), producer: process.cpuUsage(), consumer: consumer?.cpuSeconds() ?? 0 };
    lister.start(BATCH_ID);
    let record = await batches.get(BATCH_ID);
    await waitFor(async () => {
      record = await batches.get(BATCH_ID);
      if (consume) return record?.state === 'completed';
      return record?.roomWaitSince !== undefined || record?.state === 'running';
    }, 3_600_000, `phase ${name}`);
    const seconds = (performance.now() - started) / 1000;
    const producerCpu = process.cpuUsage(cpuBefore.producer);
    const cpu = {
      redis: (await redisCpuSeconds(deps.background)) - cpuBefore.redis,
      producer: (producerCpu.user + producerCpu.system) / 1e6,
      consumer: (consumer?.cpuSeconds() ?? 0) - cpuBefore.consumer,
    };
    const enqueued = record!.total;
    const sampledPeak = Math.max(...(await memory.stop()));
    const jobHash = (await deps.background.redis.call('MEMORY', 'USAGE', `bench:images:${await firstJobId(deps.background)}`, 'SAMPLES', '0')) as number | null;
    const doneHash = (await deps.background.redis.call('MEMORY', 'USAGE', `bench:batch:${BATCH_ID}:done`, 'SAMPLES', '0')) as number | null;
    const { peak } = await memoryInfo(deps.background);
    const done = record!.completed + record!.failed;
    return {
      phase: name,
      listingAhead,
      enqueued,
      done,
      seconds: Math.round(seconds * 10) / 10,
      keysPerSecond: Math.round((consume ? done : enqueued) / seconds),
      peakMiB: Math.round((peak / MiB) * 10) / 10,
      sampledPeakMiB: Math.round((sampledPeak / MiB) * 10) / 10,
      jobHashBytes: jobHash,
      doneHashMiB: Math.round(((doneHash ?? 0) / MiB) * 10) / 10,
      ...perKey(cpu, consume ? done : enqueued),
    };
  } finally {
    await memory.stop().catch(() => undefined);
    await lister.stop();
    await consumer?.close();
    await closeProducerDeps(deps);
    await redisServer.stop();
  }
}

function perKey(cpu: { redis: number; producer: number; consumer: number }, keys: number) {
  const us = (seconds: number) => Math.round((seconds / Math.max(1, keys)) * 1e6);
  return { redisUsPerKey: us(cpu.redis), producerUsPerKey: us(cpu.producer), consumerUsPerKey: us(cpu.consumer) };
}

/** The id of one job still in the images queue (a waiting one, else a completed one kept), for MEMORY USAGE. */
async function firstJobId(backend: JobBackend): Promise<string | undefined> {
  const [waiting] = await backend.redis.lrange('bench:images:wait', 0, 0);
  const [completed] = await backend.redis.zrange('bench:images:completed', '0', '0');
  return waiting ?? completed;
}

const defaultAhead = Number(loadConfig({}).listingAhead);
console.log(`listing scale: ${KEYS.toLocaleString('en')} generated keys through BatchLister, LISTING_AHEAD ${defaultAhead}, consumer concurrency ${CONSUMER_CONCURRENCY}`);
const results: PhaseResult[] = [];
results.push(await phase('no consumer (stops at the limit)', defaultAhead, false));
results.push(await phase('fast consumer (all keys pass)', defaultAhead, true));
if (process.env.BENCH_UNLIMITED === '1') results.push(await phase('no backpressure, no consumer', KEYS + 1, false));
console.table(results);
const drained = results[1]!;
const fits = results.slice(0, 2).every((result) => result.peakMiB <= 300);
// Redis runs its scripts on one thread: at R microseconds of Redis CPU per key it cannot pass more than 1e6 / R keys/s.
console.log(`Redis CPU per key passed: ${drained.redisUsPerKey} us, so one Redis tops out near ${Math.round(1e6 / Math.max(1, drained.redisUsPerKey)).toLocaleString('en')} keys/s on this machine whatever the Node side does`);
console.log(`targets: peak <= 300 MiB ${fits ? 'met' : 'MISSED'}; >= 20,000 keys/s through the fleet ${drained.keysPerSecond >= 20_000 ? 'met' : 'MISSED'} (${drained.keysPerSecond})`);
