-- Resumes a paused batch: restores the state it was paused from.
-- KEYS: batch hash.
-- Returns 1 when resumed; 2 when resumed running with every input already done (finalize now);
-- 0 when not paused; -1 when unknown.
local b = redis.call('HMGET', KEYS[1], 'state', 'pausedFrom', 'total', 'completed', 'failed')
if not b[1] then return -1 end
if b[1] ~= 'paused' then return 0 end
local restored = b[2] or 'running'
redis.call('HSET', KEYS[1], 'state', restored)
redis.call('HDEL', KEYS[1], 'pausedFrom', 'pausedAt')
if restored == 'running' and (tonumber(b[4]) or 0) + (tonumber(b[5]) or 0) >= (tonumber(b[3]) or 0) then return 2 end
return 1
