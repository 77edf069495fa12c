-- Records that the store refuses an input's result object for good (its path collides with
-- another's, the key is refused): the outcome becomes 'unstorable', counted as failed, and
-- nothing waits to be stored for it, so the batch can finish.
-- KEYS: batch hash, done hash, pending hash. ARGV: job id.
-- Returns 1 when marked now, 0 when nothing was pending for it (stored, or marked already).
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return 0 end
local done = redis.call('HGET', KEYS[2], ARGV[1])
if not done then return 0 end
local tab = string.find(done, '\t', 1, true)
if string.sub(done, 1, tab - 1) == 'ok' then
  redis.call('HINCRBY', KEYS[1], 'completed', -1)
  redis.call('HINCRBY', KEYS[1], 'failed', 1)
end
redis.call('HSET', KEYS[2], ARGV[1], 'unstorable' .. string.sub(done, tab))
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
