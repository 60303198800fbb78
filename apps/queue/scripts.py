"""The waiting room's Lua scripts. Each state change is one script, atomic in Redis with no lock
and no read-modify-write from Python. Every key a script touches is passed in KEYS and carries the
date's hash tag (`queue:{<date_id>}:…`), so all of them live in one Redis Cluster slot.

Keys of one concert date (named in keys.QueueKeys); the statuses the scripts return are the values
of models.QueueStatus:
  prequeue    SET user_id, buyers who entered before the opening (no order among them yet)
  drawn       STRING "<ms>:<n>" once the pre-queue has been drawn (exactly once per date)
  secret      STRING the draw's secret, from the first pre-queue entry until the draw
  waiting     ZSET user_id → place number (strict order: numbers come from `seq`)
  seq         STRING place counter
  seen        ZSET user_id → last poll time in ms (heartbeat of waiters)
  arrived     HASH user_id → arrival time in ms (for operators: how long the head has waited)
  active      ZSET user_id → access expiry in ms (the record of each access token)
  idle        ZSET user_id → ms after which an admitted buyer who has done nothing loses the place
  admissions  ZSET "<ms>:<n>:<run>" → ms, admission runs of the last few minutes (the observed rate)
  control     HASH the admission controller's state (target, decided_at, cut_at)
  decisions   LIST the controller's last decisions, newest first (JSON)
  latency:<s> HASH booking-path latency histogram of one second ("b<bin>" → count, "shed" → count)

Only admissions from the line are recorded in `admissions`: an entrant admitted at once (nobody was
waiting) does not move the line, and counting the first rush of immediate admissions would make the
line look several times faster than it is for minutes afterwards. It also keeps that set at one
member per admission run, which ENTER and STATUS scan on every call.

The draw. At the opening every pre-queued buyer gets a place in a uniformly random order, ahead of
everyone who enters later: the order is that of HMAC-like keys sha1(secret ":" user_id), where the
secret is 128 bits from Python's `secrets`, stored by the first pre-queue entry (SET NX) and deleted
by the draw; it is never returned, so no buyer can see or steer the order. Whichever script first
runs at or after the opening draws (the admission run from beat, or an entry or poll that comes
first), inside that one atomic script, and removes the pre-queue as it does: a second script finds
nothing left to draw.

Because the secret exists before the draw, a pre-queued buyer's key is already known, and with it
roughly where the buyer will stand: its first 32 bits over 2^32 (the buyer's quantile in the draw)
times the pre-queue's size. ENTER and STATUS return that quantile to the pre-queued, so each comes
back after the opening in the order of the draw, spread over a window sized to the pre-queue: the
buyers drawn first learn their place first, and the 12,000 of a big opening do not all ask at once.
"""

import secrets

from apps.common import lua

# A place the scripts report as "no position yet" (pre-queued, before the draw).
NO_POSITION = -1

_COMMON = """
-- The observed rate, returned by ENTER and STATUS to waiters in the same round trip: the admissions
-- made after the first run in the window, over the time since that run. The first run's own count is
-- left out because it is where the measured span begins; counting it (k runs over k-1 intervals)
-- would overstate the pace by half with three runs of history, and promise waits that are too short.
local function observed_rate(key, now, window)
  local entries = redis.call('ZRANGEBYSCORE', key, now - window, '+inf', 'WITHSCORES')
  if #entries == 0 then
    return 0, 0
  end
  local total = 0
  for i = 3, #entries, 2 do
    total = total + tonumber(string.match(entries[i], '^%d+:(%d+)'))
  end
  return total, now - tonumber(entries[2])
end

-- The sale is open once its opening time has passed, or once the draw has been made (a process
-- whose clock lags must not put anyone in a pre-queue that will never be drawn again).
local function is_open(drawn, now, opens)
  return now >= opens or redis.call('EXISTS', drawn) == 1
end

-- Give every pre-queued buyer a place, in the order of sha1(secret:uid), after everyone already
-- placed; returns how many were drawn (0 when there is nothing to draw).
local function draw_prequeue(prequeue, waiting, seq, seen, drawn, secret_key, now, fallback)
  local members = redis.call('SMEMBERS', prequeue)
  if #members == 0 then
    redis.call('DEL', secret_key)
    return 0
  end
  local secret = redis.call('GET', secret_key) or fallback
  local keyed = {}
  for i, uid in ipairs(members) do
    keyed[i] = redis.sha1hex(secret .. ':' .. uid) .. uid
  end
  table.sort(keyed)
  local first = redis.call('INCRBY', seq, #keyed) - #keyed
  for from = 1, #keyed, 500 do
    local places, heartbeats = {}, {}
    for i = from, math.min(from + 499, #keyed) do
      local uid = string.sub(keyed[i], 41)
      places[#places + 1] = first + i
      places[#places + 1] = uid
      heartbeats[#heartbeats + 1] = now
      heartbeats[#heartbeats + 1] = uid
    end
    redis.call('ZADD', waiting, unpack(places))
    redis.call('ZADD', seen, unpack(heartbeats))
  end
  redis.call('DEL', prequeue, secret_key)
  redis.call('SET', drawn, now .. ':' .. #keyed)
  return #keyed
end

-- A pre-queued buyer's answer: no place yet, the buyer's quantile in the coming draw (the first 32
-- bits of the draw key; -1 without a stored secret) and the pre-queue's size.
local function prequeued(prequeue, secret_key, uid, created)
  local secret = redis.call('GET', secret_key)
  local quantile = -1
  if secret then
    quantile = tonumber(string.sub(redis.sha1hex(secret .. ':' .. uid), 1, 8), 16)
  end
  return {'WAITING', -1, 0, created, quantile, redis.call('SCARD', prequeue)}
end

-- A waiter's answer: the place, the observed rate and the line's length (which paces the polls).
local function waiter(waiting, admissions, rank, created, now, window)
  local total, span = observed_rate(admissions, now, window)
  return {'WAITING', rank + 1, 0, created, total, span, redis.call('ZCARD', waiting)}
end

-- Where the user already stands: admitted (and not expired), waiting with a place (which stamps the
-- heartbeat), or pre-queued without one; nil when none of these.
local function current_place(waiting, active, seen, admissions, prequeue, secret_key, uid, now, window)
  local expires = tonumber(redis.call('ZSCORE', active, uid))
  if expires and expires > now then
    return {'READY', 0, expires, 0}
  end
  local rank = redis.call('ZRANK', waiting, uid)
  if rank then
    redis.call('ZADD', seen, now, uid)
    return waiter(waiting, admissions, rank, 0, now, window)
  end
  if redis.call('SISMEMBER', prequeue, uid) == 1 then
    redis.call('ZADD', seen, now, uid)
    return prequeued(prequeue, secret_key, uid, 0)
  end
  return nil
end

-- How many may be admitted at once: the controller's current target (auto), else the fixed maximum.
local function capacity(control, auto, fallback)
  if auto == 1 then
    return tonumber(redis.call('HGET', control, 'target')) or fallback
  end
  return fallback
end
"""

# KEYS: waiting, active, seq, seen, admissions, arrived, prequeue, drawn, idle, control, secret
# ARGV: user_id, now_ms, capacity, auto(0/1), token_ttl_ms, rate_window_ms, opens_ms, secret, idle_ms
# → {status, position (-1: none yet), expires_ms, created(0/1), then for a waiter
#    admitted_in_window, window_span_ms, line_length; for the pre-queued quantile (of 2^32), prequeue_size}
ENTER = (
    _COMMON
    + """
local uid, now, cap, auto = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl, window, opens, idle = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[9])
local open = is_open(KEYS[8], now, opens)
if open then
  draw_prequeue(KEYS[7], KEYS[1], KEYS[3], KEYS[4], KEYS[8], KEYS[11], now, ARGV[8])
end
local place = current_place(KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[7], KEYS[11], uid, now, window)
if place then
  return place
end
if not open then
  redis.call('SET', KEYS[11], ARGV[8], 'NX')
  redis.call('SADD', KEYS[7], uid)
  redis.call('ZADD', KEYS[4], now, uid)
  redis.call('HSET', KEYS[6], uid, now)
  return prequeued(KEYS[7], KEYS[11], uid, 1)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) == 0 and redis.call('ZCARD', KEYS[2]) < capacity(KEYS[10], auto, cap) then
  local expires = now + ttl
  redis.call('ZADD', KEYS[2], expires, uid)
  redis.call('ZADD', KEYS[9], now + idle, uid)
  return {'READY', 0, expires, 1}
end
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], seq, uid)
redis.call('ZADD', KEYS[4], now, uid)
redis.call('HSET', KEYS[6], uid, now)
return waiter(KEYS[1], KEYS[5], redis.call('ZRANK', KEYS[1], uid), 1, now, window)
"""
)

# KEYS: waiting, active, seen, admissions, prequeue, seq, drawn, secret
# ARGV: user_id, now_ms, rate_window_ms, opens_ms, secret (used only if none was stored)
# → as ENTER's, created always 0
STATUS = (
    _COMMON
    + """
local uid, now, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if now >= tonumber(ARGV[4]) then
  draw_prequeue(KEYS[5], KEYS[1], KEYS[6], KEYS[3], KEYS[7], KEYS[8], now, ARGV[5])
end
return current_place(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[8], uid, now, window)
  or {'NOT_IN_QUEUE', 0, 0, 0}
"""
)

# KEYS: waiting, active, seen, arrived, prequeue, idle
# ARGV: user_id
# → number of places the user was removed from (line, pre-queue, admission)
LEAVE = """
local uid = ARGV[1]
local removed = redis.call('ZREM', KEYS[1], uid) + redis.call('ZREM', KEYS[2], uid) + redis.call('SREM', KEYS[5], uid)
redis.call('ZREM', KEYS[3], uid)
redis.call('HDEL', KEYS[4], uid)
redis.call('ZREM', KEYS[6], uid)
return removed
"""

# The access-token check of a queue-protected request, and its idle bookkeeping in the same trip:
# the token's expiry must still be the one recorded; an admitted buyer whose idle deadline has passed
# loses the place here (reclaimed at once, not at the next admission run); otherwise the deadline
# moves to now + idle (never earlier: a live hold may have set it later).
# KEYS: active, idle
# ARGV: user_id, token_expiry_ms, now_ms, idle_ms
# → 1 valid, 0 not
CHECK = """
local uid, expiry, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local recorded = tonumber(redis.call('ZSCORE', KEYS[1], uid))
if not recorded or recorded ~= expiry or expiry <= now then
  return 0
end
local deadline = tonumber(redis.call('ZSCORE', KEYS[2], uid))
if deadline and deadline <= now then
  redis.call('ZREM', KEYS[1], uid)
  redis.call('ZREM', KEYS[2], uid)
  return 0
end
local renewed = now + tonumber(ARGV[4])
if not deadline or deadline < renewed then
  redis.call('ZADD', KEYS[2], renewed, uid)
end
return 1
"""

# A finished booking-path request (hold, payment): its latency into the second's histogram, a shed
# counted, and, for a write that succeeded (a hold), the buyer's place kept until the hold expires.
# KEYS: latency bucket, active, idle
# ARGV: bin field, shed(0/1), bucket_ttl_s, user_id, keep_until_ms (0: keep nothing)
RECORD = """
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
"""

# KEYS: waiting, active, seen, admissions, arrived, prequeue, seq, drawn, idle, control, decisions, secret
# ARGV: now_ms, batch (-1: no batch limit), capacity, auto(0/1), token_ttl_ms, heartbeat_cutoff_ms,
#       rate_window_ms, cleanup_limit, run_id, opens_ms, secret (used only if none was stored),
#       first_idle_ms (an admitted buyer's first idle deadline: until the next poll, and then some),
#       decided_at_seen ("" when never), decision_json ("" when no decision), then the controller's
#       new state as field/value pairs
# → {admitted, pruned_waiters, expired_tokens, idle_reclaimed, active_after, waiting_after,
#    prequeued_after, drawn, capacity}
ADMIT = (
    _COMMON
    + """
local now, batch, cap, auto = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl, cutoff, window, limit = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local idle = tonumber(ARGV[12])
local drawn = 0
if is_open(KEYS[8], now, tonumber(ARGV[10])) then
  drawn = draw_prequeue(KEYS[6], KEYS[1], KEYS[7], KEYS[3], KEYS[8], KEYS[12], now, ARGV[11])
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
-- Waiters whose heartbeat stopped lose their place.
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', cutoff, 'LIMIT', 0, limit)
for _, uid in ipairs(stale) do
  redis.call('ZREM', KEYS[1], uid)
  redis.call('ZREM', KEYS[3], uid)
  redis.call('HDEL', KEYS[5], uid)
  redis.call('SREM', KEYS[6], uid)
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
-- The controller's decision applies only if no other run decided since this one read the state.
if ARGV[14] ~= '' and (redis.call('HGET', KEYS[10], 'decided_at') or '') == ARGV[13] then
  redis.call('HSET', KEYS[10], unpack(ARGV, 15))
  redis.call('LPUSH', KEYS[11], ARGV[14])
  redis.call('LTRIM', KEYS[11], 0, 19)
end
cap = capacity(KEYS[10], auto, cap)
local count = cap - redis.call('ZCARD', KEYS[2])
if batch >= 0 then
  count = math.min(batch, count)
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
  end
end
return {
  admitted, #stale, #expired, idled, redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[1]),
  redis.call('SCARD', KEYS[6]), drawn, cap,
}
"""
)


def draw_secret() -> str:
    """128 bits from the OS's CSPRNG for a draw: kept by the first pre-queue entry of a date (the
    other calls' are discarded), deleted by the draw, never returned to anyone."""
    return secrets.token_hex(16)


# The scripts run through the one runner of apps.common.lua (EVALSHA, NOSCRIPT reload, pipelines).
_registered = lua.registered
run = lua.run
run_in_round_trip = lua.run_in_round_trip
