-- Records that an input is a document of N pages, each now an input of its own: the document's
-- own unit of the batch total is replaced by its pages (total grows by N - 1), and documents and
-- pages are counted. Idempotent: a repeated call (a retried or stale attempt) changes nothing and
-- returns the page count first recorded, so the caller enqueues the same page jobs again.
-- KEYS: batch hash, done hash (job id -> "document\t<pages>\t<key>" for a split document).
-- ARGV: job id, key, pages.
-- Returns the page count to enqueue; 0 when the input already has another outcome (nothing to
-- do); -1 when the batch is not listing or running (cancelled or gone).
local recorded = redis.call('HGET', KEYS[2], ARGV[1])
if recorded then
  local pages = string.match(recorded, '^document\t(%d+)\t')
  if pages then return tonumber(pages) end
  return 0
end
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'listing' and state ~= 'running' then return -1 end
local pages = tonumber(ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], 'document\t' .. pages .. '\t' .. ARGV[2])
redis.call('HINCRBY', KEYS[1], 'total', pages - 1)
redis.call('HINCRBY', KEYS[1], 'documents', 1)
redis.call('HINCRBY', KEYS[1], 'pages', pages)
return pages
