-- Records the one outcome of an input (first writer wins) before its result object is written.
-- KEYS: batch hash, done hash (job id -> "<status>\t<key>"), pending hash (job id -> "<token>\n<line>"),
-- queued-jobs index (job id -> job data: enqueued, no outcome yet; the input leaves it here).
-- ARGV: job id, "<status>\t<key>", counter field (completed | failed), attempt token, result line JSON
-- ('' = no object to write: nothing waits in the pending hash), optional '1' when the outcome was
-- answered from the result cache (counted in the batch's 'cached' field, once, with the outcome).
-- The winner's line waits in the pending hash until its object is stored; whoever stores it
-- (the winner, a later attempt of the same job, or finalize) writes exactly that line.
-- Returns {added, mine, complete}: added = this call recorded it; mine = the recorded outcome is this
-- token's (also true on a repeated call by the winner); complete = every input of a fully listed
-- batch has an outcome.
local added = redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[1])
local mine = added
if added == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
  if ARGV[6] == '1' then redis.call('HINCRBY', KEYS[1], 'cached', 1) end
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[4] .. '\n' .. ARGV[5]) end
else
  local pending = redis.call('HGET', KEYS[3], ARGV[1])
  local prefix = ARGV[4] .. '\n'
  if pending and string.sub(pending, 1, string.len(prefix)) == prefix then mine = 1 end
end
local b = redis.call('HMGET', KEYS[1], 'state', 'total', 'completed', 'failed')
local complete = 0
if b[1] == 'running' and (tonumber(b[3]) or 0) + (tonumber(b[4]) or 0) >= (tonumber(b[2]) or 0) then
  complete = 1
end
return {added, mine, complete}
