-- KEYS: waiting, active, seq, seen, admissions, arrived, prequeue, drawn, idle, control, secret, drawkeys,
--       order, due, parked, seat counts
-- ARGV: user_id, now_ms, capacity, auto(0/1), token_ttl_ms, rate_window_ms, opens_ms, secret, idle_ms,
--       draw_key, nonce (the last three used by a pre-queue entry only: the key made with that secret),
--       batch (QUEUE_ADMIT_BATCH), poll budget a second, poll cap s (the pace the answer's poll is told at)
-- → {status, position (-1: none yet), expires_ms, created(0/1), then for a waiter
--    admitted_in_window, window_span_ms, line_length; for the pre-queued quantile (of 2^32), prequeue_size,
--    nonce; always last: seats available, seats held (-1, -1: counts missing)}; SOLD_OUT: no new place
--    given; NEED_COUNTS: a newcomer and no counts, nothing done; {'STALE'} when the secret is not the
--    stored one (nothing changed)
local uid, now = ARGV[1], tonumber(ARGV[2])
local line = {
  waiting = KEYS[1], active = KEYS[2], seen = KEYS[4], admissions = KEYS[5], arrived = KEYS[6],
  prequeue = KEYS[7], idle = KEYS[9], control = KEYS[10], drawkeys = KEYS[12], due = KEYS[14], parked = KEYS[15],
}
local ask = {
  capacity = tonumber(ARGV[3]), auto = tonumber(ARGV[4]), ttl = tonumber(ARGV[5]), window = tonumber(ARGV[6]),
  opens = tonumber(ARGV[7]), idle = tonumber(ARGV[9]), batch = tonumber(ARGV[12]), budget = tonumber(ARGV[13]),
  cap = tonumber(ARGV[14]),
}
local open = is_open(KEYS[8], now, ask.opens)
if open then
  draw_prequeue(KEYS[7], KEYS[12], KEYS[13], KEYS[1], KEYS[3], KEYS[4], KEYS[8], KEYS[14], now, ask)
end
local counts = seat_counts(KEYS[#KEYS])
local place = current_place(line, uid, counts, now, ask)
if place then
  return with_counts(place, counts)
end
if counts[1] < 0 then
  return with_counts({'NEED_COUNTS', 0, 0, 0}, counts)
end
if sold_out(counts) then
  return with_counts({'SOLD_OUT', 0, 0, 0}, counts)
end
if not open then
  if redis.call('GET', KEYS[11]) ~= ARGV[8] then
    return {'STALE'}
  end
  redis.call('SADD', KEYS[7], uid)
  redis.call('HSET', KEYS[12], uid, ARGV[10] .. ARGV[11])
  redis.call('ZADD', KEYS[4], now, uid)
  redis.call('HSET', KEYS[6], uid, now)
  return with_counts(prequeued(KEYS[7], KEYS[12], uid, 1), counts)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) == 0 and room_for_one(line, counts, ask) then
  return with_counts({'READY', 0, admit_now(line, uid, now, ask), 1}, counts)
end
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], seq, uid)
redis.call('HSET', KEYS[6], uid, now)
local rank = redis.call('ZRANK', KEYS[1], uid)
stamp_waiter(line, uid, rank, counts, now, ask)
return with_counts(waiter(KEYS[1], KEYS[5], uid, rank, 1, now, ask.window), counts)
