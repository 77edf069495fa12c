/**
 * Lua for the batch registry. Each script runs atomically in Redis, which is what makes
 * outcome counting exactly-once and "is the batch done?" race-free across workers.
 *
 * Batch hash fields: task, state, total, completed, failed, skipped, cursor (last enqueued key),
 * createdAt, finishedAt, and the request. State 'running' means the source is fully enqueued
 * (only finishListing sets it). The done hash maps job id -> "<status>\t<key>" for every finished
 * input. The index (a sorted set) holds unfinished batches only; finishing or cancelling removes one.
 */

/** KEYS: batch, done. ARGV: jobId, "<status>\t<key>", counter field. Returns {added, complete}. */
export const recordOutcomeScript = `
local added = redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
if added == 1 then redis.call('HINCRBY', KEYS[1], ARGV[3], 1) end
local b = redis.call('HMGET', KEYS[1], 'state', 'total', 'completed', 'failed')
local complete = 0
if b[1] == 'running' and (tonumber(b[3]) or 0) + (tonumber(b[4]) or 0) >= (tonumber(b[2]) or 0) then
  complete = 1
end
return {added, complete}
`;

/** KEYS: batch. Marks listing finished; returns 1 when every enqueued input is already done. */
export const finishListingScript = `
if redis.call('HGET', KEYS[1], 'state') ~= 'listing' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'running')
local b = redis.call('HMGET', KEYS[1], 'total', 'completed', 'failed')
if (tonumber(b[2]) or 0) + (tonumber(b[3]) or 0) >= (tonumber(b[1]) or 0) then return 1 end
return 0
`;

/** KEYS: batch. ARGV: enqueued, skipped, cursor. Page counters and resume point move together. */
export const recordPageScript = `
if redis.call('HGET', KEYS[1], 'state') == 'cancelled' then return 0 end
redis.call('HINCRBY', KEYS[1], 'total', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'skipped', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'cursor', ARGV[3]) end
return 1
`;

/** KEYS: batch, done, index. ARGV: batch id, final state, finishedAt, ttl seconds. Only a running batch finishes. */
export const markFinishedScript = `
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'finishedAt', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`;

/** KEYS: batch, done, index. ARGV: batch id, finishedAt, ttl. */
export const cancelScript = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -1 end
if state ~= 'listing' and state ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finishedAt', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`;
