-- KEYS: waiting, active, seen, admissions, arrived, prequeue, seq, drawn, idle, control, decisions, drawkeys,
--       order, seat counts
-- ARGV: now_ms, batch (-1: no batch limit), capacity, auto(0/1), token_ttl_ms, heartbeat_cutoff_ms,
--       rate_window_ms, cleanup_limit, run_id, opens_ms,
--       first_idle_ms (an admitted buyer's first idle deadline: until the next poll, and then some),
--       decided_at_seen ("" when never), decision_json ("" when no decision), then the controller's
--       new state as field/value pairs
-- → {admitted, pruned_waiters, expired_tokens, idle_reclaimed, active_after, waiting_after,
--    prequeued_after, drawn, capacity}
local now, batch, cap, auto = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl, cutoff, window, limit = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local idle = tonumber(ARGV[11])
local drawn = 0
if is_open(KEYS[8], now, tonumber(ARGV[10])) then
  drawn = draw_prequeue(KEYS[6], KEYS[12], KEYS[13], KEYS[1], KEYS[7], KEYS[3], KEYS[8], now)
end
-- Places that end: expired tokens, then admitted buyers idle past their deadline.
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
for _, uid in ipairs(expired) do
  redis.call('ZREM', KEYS[2], uid)
  redis.call('ZREM', KEYS[9], uid)
end
local idled = 0
for _, uid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[9], '-inf', now, 'LIMIT', 0, limit)) do
  idled = idled + redis.call('ZREM', KEYS[2], uid)
  redis.call('ZREM', KEYS[9], uid)
end
-- Waiters whose heartbeat stopped lose their place, unless the date was sold out within the timeout:
-- its waiters were told to stop asking, and keep their places until they can have checked again.
local counts = seat_counts(KEYS[#KEYS])
if sold_out(counts) then
  redis.call('HSET', KEYS[10], 'sold_out_at', now)
end
local stale = {}
if (tonumber(redis.call('HGET', KEYS[10], 'sold_out_at')) or 0) < cutoff then
  stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', cutoff, 'LIMIT', 0, limit)
end
for _, uid in ipairs(stale) do
  redis.call('ZREM', KEYS[1], uid)
  redis.call('ZREM', KEYS[3], uid)
  redis.call('HDEL', KEYS[5], uid)
  redis.call('SREM', KEYS[6], uid)
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
-- The controller's decision applies only if no other run decided since this one read the state.
if ARGV[13] ~= '' and (redis.call('HGET', KEYS[10], 'decided_at') or '') == ARGV[12] then
  redis.call('HSET', KEYS[10], unpack(ARGV, 14))
  redis.call('LPUSH', KEYS[11], ARGV[13])
  redis.call('LTRIM', KEYS[11], 0, 19)
end
cap = capacity(KEYS[10], auto, cap)
local active = redis.call('ZCARD', KEYS[2])
local count = cap - active
if batch >= 0 then
  count = math.min(batch, count)
end
if counts[1] >= 0 then
  count = math.min(count, counts[1])  -- nobody into a date without a free seat; one buyer a free seat at most
  -- and no more admitted than the unsold seats can serve, holders and those still to hold together
  count = math.min(count, seat_room(KEYS[10], counts) - active)
end
local admitted = 0
if count > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], count)
  for i = 1, #popped, 2 do
    redis.call('ZADD', KEYS[2], now + ttl, popped[i])
    redis.call('ZADD', KEYS[9], now + idle, popped[i])
    redis.call('ZREM', KEYS[3], popped[i])
    redis.call('HDEL', KEYS[5], popped[i])
    admitted = admitted + 1
  end
  if admitted > 0 then
    redis.call('ZADD', KEYS[4], now, now .. ':' .. admitted .. ':' .. ARGV[9])
    -- The line is admitted in order of number: everyone numbered up to the last one popped has had a
    -- turn (the push process tells the waiting pages whose number it passed).
    redis.call('HSET', KEYS[10], 'admitted_through', popped[#popped])
  end
end
return {
  admitted, #stale, #expired, idled, redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[1]),
  redis.call('SCARD', KEYS[6]), drawn, cap,
}
