-- KEYS: waiting, active, seen, arrived, prequeue, idle, due, parked
-- ARGV: user_id
-- → number of places the user was removed from (line, pre-queue, admission, passed over)
local uid = ARGV[1]
local removed = redis.call('ZREM', KEYS[1], uid) + redis.call('ZREM', KEYS[2], uid) + redis.call('SREM', KEYS[5], uid)
  + redis.call('ZREM', KEYS[8], uid)
redis.call('ZREM', KEYS[3], uid)
redis.call('HDEL', KEYS[4], uid)
redis.call('ZREM', KEYS[6], uid)
redis.call('ZREM', KEYS[7], uid)
return removed
