import { randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '@imagefleet/core';
import type { TestServices } from './services.js';

/**
 * Environment for a fleet under test: its own Redis key prefix and results prefix, quiet logs.
 * API keys, the source bucket allowlist and the rate limit are off unless a test opts in
 * (test/integration/auth*.test.ts, test/security/auth.ts do).
 */
export function testEnv(services: TestServices, extra: Record<string, string> = {}): Record<string, string> {
  const run = randomUUID().slice(0, 8);
  return {
    REDIS_URL: services.redisUrl,
    QUEUE_PREFIX: `test_${run}`,
    S3_ENDPOINT: services.s3.endpoint,
    AWS_ACCESS_KEY_ID: services.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: services.s3.secretAccessKey,
    AWS_REGION: services.s3.region,
    RESULTS_URL: `s3://results/run-${run}`,
    UPLOADS_URL: `s3://uploads/run-${run}`,
    LOG_LEVEL: 'silent',
    JOB_BACKOFF_MS: '100',
    ENGINE: 'none',
    WORKER_PORT: '0',
    AUTH: 'off',
    ALLOWED_SOURCE_BUCKETS: '*',
    RATE_LIMIT_MAX: '1000000',
    ...extra,
  };
}

export function testConfig(env: Record<string, string>): Config {
  return loadConfig(env);
}
