-- Adds one listed page to the counters and moves the resume cursor together with them.
-- KEYS: batch hash. ARGV: enqueued, skipped, cursor the page was listed after ('' = the start),
-- cursor after the page.
-- Returns 1 when recorded; 0 when the batch is no longer listing (cancelled, gone, or listed to
-- the end); -1 when the cursor moved since this page was read: another lister recorded it.
local b = redis.call('HMGET', KEYS[1], 'state', 'cursor')
if b[1] ~= 'listing' then return 0 end
if (b[2] or '') ~= ARGV[3] then return -1 end
redis.call('HINCRBY', KEYS[1], 'total', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'skipped', ARGV[2])
redis.call('HSET', KEYS[1], 'cursor', ARGV[4])
return 1
