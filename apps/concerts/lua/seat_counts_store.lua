-- Store a rebuild's seat counts only if no other rebuild did meanwhile and no change was applied
-- since the rebuild noted the change count (before reading the database): a change committed while
-- the rebuild read may be missing from what it read, and its delta found no key to apply to.
-- KEYS: counts, changes
-- ARGV: available, held, ttl_seconds, changes noted before the read
-- → {available, held} as stored (nils: nothing stored, the next read rebuilds)
if redis.call('EXISTS', KEYS[1]) == 0 and (redis.call('GET', KEYS[2]) or '0') == ARGV[4] then
  redis.call('HSET', KEYS[1], 'available', ARGV[1], 'held', ARGV[2])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
end
return redis.call('HMGET', KEYS[1], 'available', 'held')
