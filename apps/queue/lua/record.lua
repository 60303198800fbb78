-- A finished booking-path request (hold, payment): its latency into the second's histogram, a shed
-- counted, and for a hold the buyer's place kept until the hold expires and the hold's size counted in
-- the controller's hash (the admission's mean seats a hold: seat_room).
-- KEYS: latency bucket, active, idle, control
-- ARGV: bin field, shed(0/1), bucket_ttl_s, user_id, keep_until_ms (0: keep nothing), seats held (0: none)
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if ARGV[2] == '1' then
  redis.call('HINCRBY', KEYS[1], 'shed', 1)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
-- The place lives as long as the hold (later requests move it on as usual): the buyer has shown up, so
-- the first idle deadline given at admission (its due poll and the grace) no longer applies, and a
-- buyer who walks away from the hold gives the place back when the seats come back, not an idle
-- period later, when it would still count among those yet to claim seats (seat_room).
local keep = tonumber(ARGV[5])
if keep > 0 and redis.call('ZSCORE', KEYS[2], ARGV[4]) then
  redis.call('ZADD', KEYS[3], keep, ARGV[4])
end
local seats = tonumber(ARGV[6])
if seats > 0 then
  redis.call('HINCRBY', KEYS[4], 'holds', 1)
  redis.call('HINCRBY', KEYS[4], 'hold_seats', seats)
end
return 1
