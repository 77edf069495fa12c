-- Creates a batch and indexes it, in one step: as unfinished, among every batch, and among its tenant's.
-- KEYS: batch hash, index of unfinished batches, index of every batch, index of the tenant's batches
-- (the index of every batch again when it has no tenant). All three are sorted sets scored by creation time.
-- ARGV: batch id, index score (created at, ms), then field, value pairs of the hash.
-- Returns 1 when created, 0 when the batch already exists (an idempotent re-post).
-- A hash without a state is the remains of an interrupted create by an older version
-- (HSETNX id, then a MULTI that never ran): it is replaced, never taken for a batch.
if redis.call('HEXISTS', KEYS[1], 'state') == 1 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return 1
