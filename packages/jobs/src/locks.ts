import type { Redis } from 'ioredis';
import type { Scripts } from './lua-scripts.js';

/**
 * A lock with an owner and an expiry (SET NX PX): held while its owner renews it, free once
 * the owner stops (dies) for ttlMs. Renew and release only act for the owner (Lua).
 */
export class RedisLock {
  constructor(
    private readonly redis: Redis,
    private readonly scripts: Scripts,
    readonly key: string,
  ) {}

  async acquire(owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.key, owner, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async renew(owner: string, ttlMs: number): Promise<boolean> {
    return (await this.scripts.renewLock([this.key], [owner, ttlMs])) === 1;
  }

  /** Takes the lock if it is free, or keeps it if this owner holds it. */
  async hold(owner: string, ttlMs: number): Promise<boolean> {
    return (await this.renew(owner, ttlMs)) || (await this.acquire(owner, ttlMs));
  }

  async release(owner: string): Promise<void> {
    await this.scripts.releaseLock([this.key], [owner]);
  }

  /** Whether anyone holds it now. */
  async held(): Promise<boolean> {
    return (await this.redis.exists(this.key)) === 1;
  }
}
