-- A finished booking-path request (hold, payment): its latency into the second's histogram, a shed
-- counted, and, for a write that succeeded (a hold), the buyer's place kept until the hold expires.
-- KEYS: latency bucket, active, idle
-- ARGV: bin field, shed(0/1), bucket_ttl_s, user_id, keep_until_ms (0: keep nothing)
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if ARGV[2] == '1' then
  redis.call('HINCRBY', KEYS[1], 'shed', 1)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
local keep = tonumber(ARGV[5])
if keep > 0 and redis.call('ZSCORE', KEYS[2], ARGV[4]) then
  local deadline = tonumber(redis.call('ZSCORE', KEYS[3], ARGV[4]))
  if not deadline or deadline < keep then
    redis.call('ZADD', KEYS[3], keep, ARGV[4])
  end
end
return 1
