-- KEYS: waiting, active, seen, admissions, arrived, prequeue, seq, drawn, idle, control, decisions, drawkeys,
--       order, due, parked, seat counts
-- ARGV: now_ms, batch (-1: no batch limit), capacity, auto(0/1), token_ttl_ms, heartbeat_cutoff_ms,
--       rate_window_ms, cleanup_limit, run_id, opens_ms,
--       first_idle_ms (the first idle deadline of a buyer admitted with no due poll on record),
--       decided_at_seen ("" when never), decision_json ("" when no decision),
--       grace_ms (how late for its due poll a waiter may be), poll budget a second, poll cap s,
--       then the controller's new state as field/value pairs
-- → {admitted, pruned_waiters, expired_tokens, idle_reclaimed, active_after, waiting_after,
--    prequeued_after, drawn, capacity, passed_over, parked_after}
local now, batch, cap, auto = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl, cutoff, window, limit = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local idle, grace = tonumber(ARGV[11]), tonumber(ARGV[14])
local pace = {opens = tonumber(ARGV[10]), budget = tonumber(ARGV[15]), cap = tonumber(ARGV[16])}
local drawn = 0
if is_open(KEYS[8], now, pace.opens) then
  drawn = draw_prequeue(KEYS[6], KEYS[12], KEYS[13], KEYS[1], KEYS[7], KEYS[3], KEYS[8], KEYS[14], now, pace)
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
local waiters = {seen = KEYS[3], due = KEYS[14], arrived = KEYS[5]}  -- for forget_waiter
local stale = {}
if (tonumber(redis.call('HGET', KEYS[10], 'sold_out_at')) or 0) < cutoff then
  stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', cutoff, 'LIMIT', 0, limit)
end
for _, uid in ipairs(stale) do
  redis.call('ZREM', KEYS[1], uid)
  redis.call('SREM', KEYS[6], uid)
  redis.call('ZREM', KEYS[15], uid)
  forget_waiter(waiters, uid)
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
-- The controller's decision applies only if no other run decided since this one read the state.
if ARGV[13] ~= '' and (redis.call('HGET', KEYS[10], 'decided_at') or '') == ARGV[12] then
  redis.call('HSET', KEYS[10], unpack(ARGV, 17))
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
-- In order of number, each waiter that is not late for its due poll (`due`: when the poll its last
-- answer told it to make can have come, common.lua told_bound_ms) by more than the grace: admitted,
-- its first idle deadline at that poll and the grace (then every request moves it on; a buyer who has
-- left loses the place then, not an idle period after the longest poll). A waiter later than that has
-- most likely left (a closed page, a buyer who gave up in the crowd): passed over (`parked`, keeping its
-- number), at no cost of a place nobody would claim, and let in or put back first in line when it polls
-- again (current_place). Passing over stops at the cleanup limit a run.
local admitted, passed, last = 0, 0, nil
while admitted < count and passed < limit do
  local popped = redis.call('ZPOPMIN', KEYS[1], math.min(count - admitted, limit))
  if #popped == 0 then
    break
  end
  for i = 1, #popped, 2 do
    local uid = popped[i]
    local due = tonumber(redis.call('ZSCORE', KEYS[14], uid))
    if due and due + grace < now then
      redis.call('ZADD', KEYS[15], popped[i + 1], uid)
      passed = passed + 1
    else
      redis.call('ZADD', KEYS[2], now + ttl, uid)
      redis.call('ZADD', KEYS[9], due and math.max(now, due) + grace or now + idle, uid)
      forget_waiter(waiters, uid)
      admitted = admitted + 1
    end
    last = popped[i + 1]
  end
end
if admitted > 0 then
  redis.call('ZADD', KEYS[4], now, now .. ':' .. admitted .. ':' .. ARGV[9])
end
if last then
  -- The line is admitted in order of number: everyone numbered up to the last one popped has had a
  -- turn (the push process tells the waiting pages whose number it passed; one passed over polls then).
  redis.call('HSET', KEYS[10], 'admitted_through', last)
end
return {
  admitted, #stale, #expired, idled, redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[1]),
  redis.call('SCARD', KEYS[6]), drawn, cap, passed, redis.call('ZCARD', KEYS[15]),
}
