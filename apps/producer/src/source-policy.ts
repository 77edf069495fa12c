import { realpath } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { allowedSourceBuckets, type BatchSource, type Config } from '@imagefleet/core';
import { SourceError } from './source.js';

type PolicyConfig = Pick<Config, 'allowedSourceBuckets' | 'resultsUrl' | 'uploadsUrl'>;

function inside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** s3://bucket/prefix as bucket and a prefix ending in '/' (or '' for the whole bucket). */
function s3Location(url: string): { bucket: string; prefix: string } {
  const [bucket, ...rest] = url.slice(5).split('/');
  const prefix = rest.join('/');
  return { bucket: bucket!, prefix: prefix === '' ? '' : `${prefix.replace(/\/+$/, '')}/` };
}

/**
 * What a batch may read: a bucket in ALLOWED_SOURCE_BUCKETS (default: the configuration's own
 * buckets), and never the server's uploads or results (other tenants' files), neither inside
 * them nor a prefix or directory that contains them. Checked before any request to storage.
 */
export function checkSourceAllowed(source: BatchSource, config: PolicyConfig): void {
  const own = [config.uploadsUrl, config.resultsUrl];
  if ('local' in source) {
    const path = source.local.path;
    if (own.some((location) => !location.startsWith('s3://') && (inside(location, path) || inside(path, location)))) {
      throw new SourceError('source.local.path must not be or contain the uploads or results directory of this server');
    }
    return;
  }
  if (!('s3' in source) && !('keys' in source)) return;
  const field = 's3' in source ? 'source.s3.bucket' : 'source.bucket';
  const bucket = 's3' in source ? source.s3.bucket : source.bucket;
  const allowed = allowedSourceBuckets(config);
  if (!allowed.includes('*') && !allowed.includes(bucket)) throw new SourceError(`${field} must be one of the buckets this server allows (ALLOWED_SOURCE_BUCKETS)`);
  const protectedPrefixes = own.filter((location) => location.startsWith('s3://')).map(s3Location).filter((location) => location.bucket === bucket).map((location) => location.prefix);
  if ('s3' in source) {
    const prefix = source.s3.prefix;
    if (protectedPrefixes.some((owned) => prefix.startsWith(owned) || owned.startsWith(prefix))) {
      throw new SourceError('source.s3.prefix must not be or contain the uploads or results prefix of this server');
    }
    return;
  }
  const bad = source.keys.findIndex((key) => protectedPrefixes.some((owned) => key.startsWith(owned)));
  if (bad >= 0) throw new SourceError(`source.keys[${bad}] is under the uploads or results prefix of this server`);
}

/**
 * The same rule for a local source once its real path is known: a link inside a root that points
 * at (or above) the uploads or results directory, or those directories configured through a link,
 * must not get past the check on the path as written.
 */
export async function checkRealLocalSource(realPath: string, config: PolicyConfig): Promise<void> {
  const real = async (location: string) => (location.startsWith('s3://') ? location : await realpath(location).catch(() => location));
  const [uploadsUrl, resultsUrl] = await Promise.all([real(config.uploadsUrl), real(config.resultsUrl)]);
  checkSourceAllowed({ local: { path: realPath } }, { ...config, uploadsUrl, resultsUrl });
}
