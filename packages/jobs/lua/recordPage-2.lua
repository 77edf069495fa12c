-- Adds one listed page to the counters and moves the resume cursor together with them.
-- KEYS: batch hash, skipped list (the first ARGV[5] skipped inputs, as JSON lines).
-- ARGV: enqueued, skipped, cursor the page was listed after ('' = the start), cursor after the
-- page, how many skipped inputs the list keeps, then (reason, JSON line) per skipped input: each
-- counted under 'skipped:<reason>', kept while the list is short of its limit.
-- Returns 1 when recorded; 0 when the batch is no longer listing (cancelled, gone, or listed to
-- the end); -1 when the cursor moved since this page was read: another lister recorded it.
local b = redis.call('HMGET', KEYS[1], 'state', 'cursor')
if b[1] ~= 'listing' then return 0 end
if (b[2] or '') ~= ARGV[3] then return -1 end
redis.call('HINCRBY', KEYS[1], 'total', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'skipped', ARGV[2])
redis.call('HSET', KEYS[1], 'cursor', ARGV[4])
local keep = tonumber(ARGV[5])
local kept = redis.call('LLEN', KEYS[2])
for i = 6, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], 'skipped:' .. ARGV[i], 1)
  if kept < keep then
    redis.call('RPUSH', KEYS[2], ARGV[i + 1])
    kept = kept + 1
  end
end
return 1
