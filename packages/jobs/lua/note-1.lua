-- Sets and clears status notes on a batch hash, only while the batch exists (a note must never
-- bring back an expired hash without its TTL).
-- KEYS: batch hash. ARGV: number of field/value pairs to set, the pairs, then fields to clear.
-- Returns 1 when applied, 0 when the batch does not exist.
if redis.call('HEXISTS', KEYS[1], 'state') == 0 then return 0 end
local n = tonumber(ARGV[1])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + n * 2)) end
if #ARGV > 1 + n * 2 then redis.call('HDEL', KEYS[1], unpack(ARGV, 2 + n * 2)) end
return 1
