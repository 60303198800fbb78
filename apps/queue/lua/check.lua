-- The access-token check of a queue-protected request, and its idle bookkeeping in the same trip:
-- the token's expiry must still be the one recorded; an admitted buyer whose idle deadline has passed
-- loses the place here (reclaimed at once, not at the next admission run); otherwise the deadline
-- moves to now + idle (never earlier: a live hold may have set it later).
-- KEYS: active, idle
-- ARGV: user_id, token_expiry_ms, now_ms, idle_ms
-- → 1 valid, 0 not
local uid, expiry, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local recorded = tonumber(redis.call('ZSCORE', KEYS[1], uid))
if not recorded or recorded ~= expiry or expiry <= now then
  return 0
end
local deadline = tonumber(redis.call('ZSCORE', KEYS[2], uid))
if deadline and deadline <= now then
  redis.call('ZREM', KEYS[1], uid)
  redis.call('ZREM', KEYS[2], uid)
  return 0
end
local renewed = now + tonumber(ARGV[4])
if not deadline or deadline < renewed then
  redis.call('ZADD', KEYS[2], renewed, uid)
end
return 1
