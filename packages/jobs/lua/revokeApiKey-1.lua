-- Marks an API key revoked, only if it exists (never creates a half key).
-- KEYS: the key's hash. Returns 1 when revoked (or already revoked), 0 when there is no such key.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'revoked', '1')
return 1
