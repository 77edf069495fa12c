-- Extends a lock held by this owner. KEYS: lock. ARGV: owner, ttl ms. Returns 1 if still held.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
