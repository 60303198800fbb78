-- KEYS, ARGV: the line's layout (common.lua line_keys, line_ask), then ARGV 12-14: secret, draw_key, nonce
--       (used by a pre-queue entry only: the key made with that secret)
-- → {status, position (-1: none yet), expires_ms, created(0/1), then for a waiter
--    admitted_in_window, window_span_ms, line_length; for the pre-queued quantile (of 2^32), prequeue_size,
--    nonce; always last: seats available, seats held (-1, -1: counts missing)}; SOLD_OUT: no new place
--    given; NEED_COUNTS: a newcomer and no counts, nothing done; {'STALE'} when the secret is not the
--    stored one (nothing changed)
local uid, now = ARGV[1], tonumber(ARGV[2])
local line, ask = line_keys(), line_ask()
local open = is_open(line.drawn, now, ask.opens)
if open then
  draw_prequeue(line.prequeue, line.drawkeys, line.order, line.waiting, line.seq, line.seen, line.drawn, line.due,
                now, ask)
end
local counts = seat_counts(line.counts)
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
  if redis.call('GET', line.secret) ~= ARGV[12] then
    return {'STALE'}
  end
  redis.call('SADD', line.prequeue, uid)
  redis.call('HSET', line.drawkeys, uid, ARGV[13] .. ARGV[14])
  redis.call('ZADD', line.seen, now, uid)
  redis.call('HSET', line.arrived, uid, now)
  return with_counts(prequeued(line.prequeue, line.drawkeys, uid, 1), counts)
end
redis.call('ZREMRANGEBYSCORE', line.active, '-inf', now)
if redis.call('ZCARD', line.waiting) == 0 and room_for_one(line, counts, ask) then
  return with_counts({'READY', 0, admit_now(line, uid, now, ask), 1}, counts)
end
local seq = redis.call('INCR', line.seq)
redis.call('ZADD', line.waiting, seq, uid)
redis.call('HSET', line.arrived, uid, now)
local rank = redis.call('ZRANK', line.waiting, uid)
stamp_waiter(line, uid, rank, counts, now, ask)
return with_counts(waiter(line.waiting, line.admissions, uid, rank, 1, now, ask.window), counts)
