import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { createS3Client, type S3Settings } from '@imagefleet/storage';
import { freePort, spawnLogged, stopProcess, waitFor } from './processes.js';

/**
 * Real Redis and a real S3-compatible server for tests, in this order of preference:
 * 1. REDIS_URL / S3_ENDPOINT from the environment;
 * 2. containers via testcontainers, when a container runtime answers within 1 s;
 * 3. redis-server and s3rver started here on free ports.
 */
export interface TestServices {
  redisUrl: string;
  s3: S3Settings & { endpoint: string; accessKeyId: string; secretAccessKey: string };
  /** How each service was provided, for test logs. */
  provided: { redis: string; s3: string };
  stop(): Promise<void>;
}

const S3RVER_KEY = 'S3RVER';

/** Probes the Docker API (DOCKER_HOST or the default socket) with a 1 s timeout. */
async function containerRuntimeAnswers(): Promise<boolean> {
  const host = process.env.DOCKER_HOST;
  const target = host?.startsWith('tcp://')
    ? { host: new URL(host.replace('tcp://', 'http://')).hostname, port: Number(new URL(host.replace('tcp://', 'http://')).port || 2375) }
    : { socketPath: host?.startsWith('unix://') ? host.slice('unix://'.length) : '/var/run/docker.sock' };
  return new Promise((resolve) => {
    const req = request({ ...target, path: '/_ping', timeout: 1000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function redisViaProcess(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawnLogged('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  const client = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited: ${child.output()}`);
      return client.connect().then(
        () => true,
        () => false,
      );
    }, 10_000, 'redis-server');
  } finally {
    client.disconnect();
  }
  return { url: `redis://127.0.0.1:${port}`, stop: async () => void (await stopProcess(child)) };
}

async function s3rverViaProcess(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), 'imagefleet-s3rver-'));
  const bin = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');
  // s3rver encrypts list continuation tokens with DES, which OpenSSL 3 only has in its legacy provider.
  const child = spawnLogged(process.execPath, ['--openssl-legacy-provider', bin, '-d', directory, '-a', '127.0.0.1', '-p', String(port), '--silent']);
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`s3rver exited: ${child.output()}`);
    return fetch(endpoint).then(
      () => true,
      () => false,
    );
  }, 15_000, 's3rver');
  return {
    endpoint,
    async stop() {
      await stopProcess(child);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

async function viaContainers(): Promise<{ redis: { url: string; stop(): Promise<void> }; s3: { endpoint: string; key: string; secret: string; stop(): Promise<void> } }> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const redis = await new GenericContainer('redis:7.4-alpine').withExposedPorts(6379).start();
  const key = 'imagefleet';
  const secret = 'imagefleet-secret';
  // MinIO stopped publishing images in Oct 2025; this pinned release still exists on the hub.
  const minio = await new GenericContainer('minio/minio:RELEASE.2025-04-22T22-12-26Z')
    .withCommand(['server', '/data'])
    .withEnvironment({ MINIO_ROOT_USER: key, MINIO_ROOT_PASSWORD: secret })
    .withExposedPorts(9000)
    .withWaitStrategy(Wait.forHttp('/minio/health/ready', 9000))
    .start();
  return {
    redis: { url: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`, stop: async () => void (await redis.stop()) },
    s3: { endpoint: `http://${minio.getHost()}:${minio.getMappedPort(9000)}`, key, secret, stop: async () => void (await minio.stop()) },
  };
}

export async function startServices(): Promise<TestServices> {
  const stops: (() => Promise<void>)[] = [];
  let redisUrl = process.env.REDIS_URL;
  let endpoint = process.env.S3_ENDPOINT;
  let accessKeyId = process.env.AWS_ACCESS_KEY_ID ?? S3RVER_KEY;
  let secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY ?? S3RVER_KEY;
  const provided = { redis: redisUrl ? 'REDIS_URL' : '', s3: endpoint ? 'S3_ENDPOINT' : '' };
  if ((!redisUrl || !endpoint) && (await containerRuntimeAnswers())) {
    const containers = await viaContainers();
    if (!redisUrl) {
      redisUrl = containers.redis.url;
      provided.redis = 'testcontainers';
      stops.push(containers.redis.stop);
    } else await containers.redis.stop();
    if (!endpoint) {
      endpoint = containers.s3.endpoint;
      accessKeyId = containers.s3.key;
      secretAccessKey = containers.s3.secret;
      provided.s3 = 'testcontainers (MinIO)';
      stops.push(containers.s3.stop);
    } else await containers.s3.stop();
  }
  if (!redisUrl) {
    const redis = await redisViaProcess();
    redisUrl = redis.url;
    provided.redis = 'redis-server';
    stops.push(redis.stop);
  }
  if (!endpoint) {
    const s3 = await s3rverViaProcess();
    endpoint = s3.endpoint;
    accessKeyId = S3RVER_KEY;
    secretAccessKey = S3RVER_KEY;
    provided.s3 = 's3rver';
    stops.push(s3.stop);
  }
  return {
    redisUrl,
    s3: { endpoint, region: 'us-east-1', accessKeyId, secretAccessKey, forcePathStyle: true },
    provided,
    async stop() {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
    },
  };
}

/** Creates a bucket, tolerating one that exists. */
export async function ensureBucket(services: TestServices, bucket: string): Promise<void> {
  const client = createS3Client(services.s3);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    const name = (error as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
  } finally {
    client.destroy();
  }
}

/** Deletes every Redis key under a test prefix. */
export async function deleteRedisPrefix(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}
