-- Apply a committed seat change's deltas to a date's seat counts, if they exist (a missing key is
-- rebuilt from the database by the next read), and count the change either way: a rebuild that read
-- the database before this change was applied stores nothing (seat_counts_store.lua).
-- KEYS: counts, changes
-- ARGV: available delta, held delta
-- → 1 applied, 0 no counts
redis.call('INCR', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'available', ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'held', ARGV[2])
  return 1
end
return 0
