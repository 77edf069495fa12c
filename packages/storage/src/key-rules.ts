/** S3's own limit on a key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/**
 * Why an object key is refused, or undefined when it is safe to send to any store: not empty, at
 * most 1024 UTF-8 bytes, no NUL or other control character, not absolute, no empty ('//'), '.'
 * or '..' segment. Path-style S3 servers resolve such segments (s3rver read '../other-bucket/x'
 * from another bucket), and a directory store would map them outside its root.
 */
export function objectKeyProblem(key: string): string | undefined {
  if (typeof key !== 'string' || key === '') return 'it is empty';
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `it is longer than ${MAX_KEY_BYTES} bytes`;
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  if (/[\0-\x1f\x7f]/.test(key)) return 'it contains a control character';
  if (key.startsWith('/')) return 'it starts with /';
  if (key.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) return "it has an empty ('//'), '.' or '..' segment";
  return undefined;
}

/** Like objectKeyProblem for a listing prefix: '' and a trailing '/' are allowed. */
export function keyPrefixProblem(prefix: string): string | undefined {
  if (prefix === '') return undefined;
  return objectKeyProblem(prefix.endsWith('/') ? `${prefix}x` : prefix);
}
