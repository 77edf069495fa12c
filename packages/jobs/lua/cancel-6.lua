-- Cancels a listing, running or paused batch.
-- KEYS: batch hash, done hash, pending hash, index, skipped list, queued-jobs index (its jobs are
-- removed next by the caller, which then drops it; the TTL covers a caller that dies in between).
-- ARGV: batch id, finishedAt, ttl seconds.
-- Returns 1 when cancelled, 0 when it had already ended, -1 when unknown.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -1 end
if state ~= 'listing' and state ~= 'running' and state ~= 'paused' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finishedAt', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[5], ARGV[3])
redis.call('EXPIRE', KEYS[6], ARGV[3])
redis.call('HDEL', KEYS[1], 'pausedFrom', 'pausedAt')
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
