-- Pauses a listing or running batch and remembers which (resume restores it). Its lister stops at
-- its next chunk or poll; the caller removes its waiting jobs (they stay in its queued-jobs index).
-- KEYS: batch hash. ARGV: pausedAt (ms).
-- Returns 1 when paused now, 0 when the batch is in another state, -1 when unknown.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -1 end
if state ~= 'listing' and state ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'paused', 'pausedFrom', state, 'pausedAt', ARGV[1])
redis.call('HDEL', KEYS[1], 'roomWaitSince')
return 1
