-- Moves a batch that finished with failed inputs back to running, to run those inputs again.
-- KEYS: batch hash, done hash, queued-jobs index, index of unfinished batches, skipped list.
-- ARGV: batch id, unfinished-index score (its creation time, ms), then (job id, job data JSON) per
-- input to retry. Only inputs whose recorded outcome is failed or unstorable are taken (not ok, nor a
-- split document, whose pages have their own outcomes): the outcome
-- leaves the done hash and the failed counter, the input enters the queued-jobs index (the caller
-- enqueues it next). The records lose their TTL and the batch is unfinished again; finalize rewrites
-- the manifest once the retried inputs have outcomes.
-- Returns how many inputs were taken (0: nothing changed); -1 when the batch is not
-- completed_with_errors (listing, running, paused, clean, cancelled or gone).
if redis.call('HGET', KEYS[1], 'state') ~= 'completed_with_errors' then return -1 end
local retried = 0
for i = 3, #ARGV, 2 do
  local done = redis.call('HGET', KEYS[2], ARGV[i])
  if done and (string.sub(done, 1, 7) == 'failed\t' or string.sub(done, 1, 11) == 'unstorable\t') then
    redis.call('HDEL', KEYS[2], ARGV[i])
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
    retried = retried + 1
  end
end
if retried == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'failed', -retried)
redis.call('HINCRBY', KEYS[1], 'retries', 1)
redis.call('HSET', KEYS[1], 'state', 'running')
redis.call('HDEL', KEYS[1], 'finishedAt', 'webhookState', 'finalizeLines', 'finalizeError')
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[2])
redis.call('PERSIST', KEYS[5])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return retried
