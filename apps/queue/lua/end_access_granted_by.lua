-- End a buyer's access to a date if it was granted by a given moment: its recorded expiry (the
-- token's) is at most ARGV[2]. A later admission has a later expiry and is left alone.
-- KEYS: active, idle
-- ARGV: user_id, expiring_by_ms
-- → 1 ended, 0 no such access
local uid = ARGV[1]
local recorded = tonumber(redis.call('ZSCORE', KEYS[1], uid))
if not recorded or recorded > tonumber(ARGV[2]) then
  return 0
end
redis.call('ZREM', KEYS[1], uid)
redis.call('ZREM', KEYS[2], uid)
return 1
