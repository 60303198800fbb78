-- KEYS: waiting, active, seen, admissions, prequeue, seq, drawn, drawkeys, order, idle, control, arrived,
--       due, parked, seat counts
-- ARGV: user_id, now_ms, rate_window_ms, opens_ms, capacity, auto(0/1), token_ttl_ms, idle_ms,
--       batch (QUEUE_ADMIT_BATCH), poll budget a second, poll cap s
-- → as ENTER's, created always 0 (never SOLD_OUT: Python reads that from the counts)
local uid, now = ARGV[1], tonumber(ARGV[2])
local line = {
  waiting = KEYS[1], active = KEYS[2], seen = KEYS[3], admissions = KEYS[4], prequeue = KEYS[5],
  drawkeys = KEYS[8], idle = KEYS[10], control = KEYS[11], arrived = KEYS[12], due = KEYS[13], parked = KEYS[14],
}
local ask = {
  window = tonumber(ARGV[3]), opens = tonumber(ARGV[4]), capacity = tonumber(ARGV[5]), auto = tonumber(ARGV[6]),
  ttl = tonumber(ARGV[7]), idle = tonumber(ARGV[8]), batch = tonumber(ARGV[9]), budget = tonumber(ARGV[10]),
  cap = tonumber(ARGV[11]),
}
if now >= ask.opens then
  draw_prequeue(KEYS[5], KEYS[8], KEYS[9], KEYS[1], KEYS[6], KEYS[3], KEYS[7], KEYS[13], now, ask)
end
local counts = seat_counts(KEYS[#KEYS])
return with_counts(current_place(line, uid, counts, now, ask) or {'NOT_IN_QUEUE', 0, 0, 0}, counts)
