-- Bump a date's seat-map version and log the seats it changed. A missing counter starts at a fresh
-- clock value (never at 1); the bump logs its changed seats ("*" when it does not know them) under
-- the new version, so a reader can tell a complete log apart.
-- KEYS: version counter, change log (one hash tag: one Cluster slot)
-- ARGV: fresh clock value, changed seat ids ("1,2,3" or "*"), versions kept, log TTL in seconds
-- → the new version
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local version = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], version, version .. ':' .. ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[3]) + 1))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
return version
