-- KEYS: waiting, active, seen, admissions, prequeue, seq, drawn, drawkeys, order, seat counts
-- ARGV: user_id, now_ms, rate_window_ms, opens_ms
-- → as ENTER's, created always 0 (never SOLD_OUT: Python reads that from the counts)
local uid, now, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if now >= tonumber(ARGV[4]) then
  draw_prequeue(KEYS[5], KEYS[8], KEYS[9], KEYS[1], KEYS[6], KEYS[3], KEYS[7], now)
end
local place = current_place(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[8], uid, now, window)
return with_counts(place or {'NOT_IN_QUEUE', 0, 0, 0}, seat_counts(KEYS[#KEYS]))
