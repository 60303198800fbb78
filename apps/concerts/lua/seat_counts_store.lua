-- Store a rebuild's seat counts only if no other rebuild did meanwhile.
-- KEYS: counts
-- ARGV: available, held, ttl_seconds
-- → {available, held} as stored
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'available', ARGV[1], 'held', ARGV[2])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
end
return redis.call('HMGET', KEYS[1], 'available', 'held')
