import type { Config } from '@imagefleet/core';
import type { S3Settings } from './s3-store.js';

export function s3SettingsFrom(config: Config): S3Settings {
  return {
    endpoint: config.s3Endpoint,
    region: config.awsRegion,
    accessKeyId: config.awsAccessKeyId,
    secretAccessKey: config.awsSecretAccessKey,
    forcePathStyle: config.s3ForcePathStyle,
    requestTimeoutMs: config.s3RequestTimeoutMs,
  };
}
