-- Marks the source fully enqueued: state listing -> running.
-- KEYS: batch hash. Returns 1 when every enqueued input already has an outcome (finalize now).
if redis.call('HGET', KEYS[1], 'state') ~= 'listing' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'running')
local b = redis.call('HMGET', KEYS[1], 'total', 'completed', 'failed')
if (tonumber(b[2]) or 0) + (tonumber(b[3]) or 0) >= (tonumber(b[1]) or 0) then return 1 end
return 0
