-- Moves a running batch to its final state and starts the TTL of its records.
-- KEYS: batch hash, done hash, pending hash, index, skipped list, queued-jobs index (empty by now: dropped).
-- ARGV: batch id, final state, finishedAt, ttl seconds, webhook state ('' = none).
-- Returns 1 when finished now; 0 when not running; -1 while result objects are still pending;
-- -2 while inputs are still without an outcome.
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
if redis.call('HLEN', KEYS[3]) > 0 then return -1 end
local b = redis.call('HMGET', KEYS[1], 'total', 'completed', 'failed')
if (tonumber(b[2]) or 0) + (tonumber(b[3]) or 0) < (tonumber(b[1]) or 0) then return -2 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'finishedAt', ARGV[3])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'webhookState', ARGV[5]) end
redis.call('HDEL', KEYS[1], 'finalizeError', 'storageWaitAt', 'storageError')
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[5], ARGV[4])
redis.call('DEL', KEYS[6])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
