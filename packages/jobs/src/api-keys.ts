import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { registerScripts, type Scripts } from './lua-scripts.js';
import { runFailFast } from './redis.js';

/** submit: create and cancel batches, upload; read: status, results, jobs; metrics: /metrics; admin: everything, every tenant. */
export const API_KEY_SCOPES = ['submit', 'read', 'metrics', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export interface ApiKey {
  /** Public id, also the tenant of the batches the key creates. */
  id: string;
  name: string;
  scopes: ApiKeyScope[];
  createdAt: string;
  revoked: boolean;
}

/** ifk_<16 hex id>_<32 random bytes, base64url>. */
const TOKEN = /^ifk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;
const KEY_ID = /^[0-9a-f]{16}$/;

/**
 * A token is 256 random bits, so one SHA-256 is enough to store it: a slow password hash
 * (bcrypt, scrypt) protects guessable secrets, and there is nothing to guess here.
 */
function tokenHash(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

export function hasScope(key: Pick<ApiKey, 'scopes'>, scope: ApiKeyScope): boolean {
  return key.scopes.includes('admin') || key.scopes.includes(scope);
}

/** Parses "submit,read": throws naming the first unknown scope. */
export function parseScopes(text: string): ApiKeyScope[] {
  const scopes = [...new Set(text.split(',').map((scope) => scope.trim()).filter((scope) => scope !== ''))];
  const unknown = scopes.find((scope) => !(API_KEY_SCOPES as readonly string[]).includes(scope));
  if (unknown !== undefined || scopes.length === 0) {
    throw new Error(`scope must be a comma-separated list of ${API_KEY_SCOPES.join(', ')} (got ${JSON.stringify(unknown ?? text)})`);
  }
  return scopes as ApiKeyScope[];
}

/**
 * API keys in Redis: <prefix>:apikey:<id> (a hash: name, scopes, hash of the token, createdAt,
 * revoked) and <prefix>:apikeys (the ids, by creation time). The token itself is never stored.
 */
export class ApiKeyStore {
  private readonly scripts: Scripts;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly options: { failFast?: boolean } = {},
  ) {
    this.scripts = registerScripts(redis);
  }

  private keyOf(id: string): string {
    return `${this.prefix}:apikey:${id}`;
  }

  private get indexKey(): string {
    return `${this.prefix}:apikeys`;
  }

  private run<T>(work: () => Promise<T>): Promise<T> {
    return runFailFast(this.redis, this.options.failFast, work);
  }

  /** Creates a key; the token is returned here and nowhere else. */
  async create(name: string, scopes: ApiKeyScope[], now = new Date()): Promise<{ key: ApiKey; token: string }> {
    const id = randomBytes(8).toString('hex');
    const token = `ifk_${id}_${randomBytes(32).toString('base64url')}`;
    const key: ApiKey = { id, name, scopes, createdAt: now.toISOString(), revoked: false };
    await this.run(() =>
      this.redis
        .multi()
        .hset(this.keyOf(id), { name, scopes: scopes.join(','), hash: tokenHash(token).toString('hex'), createdAt: key.createdAt, revoked: '0' })
        .zadd(this.indexKey, now.getTime(), id)
        .exec(),
    );
    return { key, token };
  }

  async get(id: string): Promise<ApiKey | undefined> {
    if (!KEY_ID.test(id)) return undefined;
    const hash = await this.run(() => this.redis.hgetall(this.keyOf(id)));
    return hash.hash ? toApiKey(id, hash) : undefined;
  }

  /** Every key, oldest first (no tokens: they are not stored). */
  async list(): Promise<ApiKey[]> {
    const ids = await this.run(() => this.redis.zrange(this.indexKey, '0', '-1'));
    const keys = await Promise.all(ids.map((id) => this.get(id)));
    return keys.filter((key): key is ApiKey => key !== undefined);
  }

  async count(): Promise<number> {
    return this.run(() => this.redis.zcard(this.indexKey));
  }

  /** false when there is no such key. A revoked key stays listed, marked revoked. */
  async revoke(id: string): Promise<boolean> {
    if (!KEY_ID.test(id)) return false;
    return this.run(async () => (await this.scripts.revokeApiKey([this.keyOf(id)], [])) === 1);
  }

  /** The live key a bearer token belongs to, or undefined (malformed, unknown, wrong secret, revoked). */
  async verify(token: string): Promise<ApiKey | undefined> {
    const match = TOKEN.exec(token);
    if (!match) return undefined;
    const id = match[1]!;
    const hash = await this.run(() => this.redis.hgetall(this.keyOf(id)));
    if (!hash.hash || hash.revoked === '1') return undefined;
    const stored = Buffer.from(hash.hash, 'hex');
    const given = tokenHash(token);
    return stored.length === given.length && timingSafeEqual(stored, given) ? toApiKey(id, hash) : undefined;
  }
}

function toApiKey(id: string, hash: Record<string, string>): ApiKey {
  return {
    id,
    name: hash.name ?? '',
    scopes: (hash.scopes ?? '').split(',').filter((scope) => scope !== '') as ApiKeyScope[],
    createdAt: hash.createdAt ?? new Date(0).toISOString(),
    revoked: hash.revoked === '1',
  };
}
