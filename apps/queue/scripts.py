"""The waiting room's Lua scripts. Each state change is one script, atomic in Redis with no lock
and no read-modify-write from Python. Every key a script touches is passed in KEYS and carries the
date's hash tag (`queue:{<date_id>}:…`), so all of them live in one Redis Cluster slot.

Keys of one concert date (named in keys.QueueKeys); the statuses the scripts return are the values
of models.QueueStatus:
  prequeue    SET user_id, buyers who entered before the opening (no order among them yet)
  drawkeys    HASH user_id → the buyer's draw key (64 hex) followed by the buyer's nonce, until the draw
  drawn       STRING "<ms>:<n>" once the pre-queue has been drawn (exactly once per date; n entrants)
  secret      STRING the draw's secret (64 hex), from the pre-queue's opening on; published after the draw
  order       STRING the drawn keys, one a line in drawn order, written by the draw
  waiting     ZSET user_id → place number (strict order: numbers come from `seq`)
  seq         STRING place counter
  seen        ZSET user_id → last poll time in ms (heartbeat of waiters)
  arrived     HASH user_id → arrival time in ms (for operators: how long the head has waited)
  active      ZSET user_id → access expiry in ms (the record of each access token)
  idle        ZSET user_id → ms after which an admitted buyer who has done nothing loses the place
  admissions  ZSET "<ms>:<n>:<run>" → ms, admission runs of the last few minutes (the observed rate)
  control     HASH the admission controller's state (target, decided_at, cut_at), and `sold_out_at`:
              the last admission run that found the date sold out (ms)
  decisions   LIST the controller's last decisions, newest first (JSON)
  latency:<s> HASH booking-path latency histogram of one second ("b<bin>" → count, "shed" → count)
and, always passed as the LAST key, the date's seat counts (`seatmap:{<date_id>}:counts`, HASH
{available, held}, apps/concerts/seat_counts.py): same hash tag, same slot.

Sold out. ENTER, STATUS and ADMIT read the seat counts in their own round trip. ENTER and STATUS
append them to every reply (two last items: available, held; -1, -1 when the key is missing, and
Python rebuilds it from the database). ENTER gives no new place in a date with no free seat and no
hold (SOLD_OUT), nor without the counts (NEED_COUNTS: run again once Python has rebuilt them), and
admits at once only while a seat is free. ADMIT admits nobody while no seat is free and at most one
buyer per free seat; while sold out it drops no silent waiter (they were told to stop asking) and
stamps `sold_out_at`: waiters keep their places QUEUE_HEARTBEAT_TIMEOUT_SECONDS past the last
sold-out run, long enough to check again once seats come back.

Only admissions from the line are recorded in `admissions`: an entrant admitted at once (nobody was
waiting) does not move the line, and counting the first rush of immediate admissions would make the
line look several times faster than it is for minutes afterwards. It also keeps that set at one
member per admission run, which ENTER and STATUS scan on every call.

The draw (apps/queue/draw.py has its formulas). At the opening every pre-queued buyer gets a place in
a uniformly random order, ahead of everyone who enters later: ascending order of the keys
sha256(secret:user_id:nonce). Redis has no SHA-256, so each key is computed in Python at the entry
(lottery.py: the secret is fixed in Redis before the first entry and cached per process) and stored in
`drawkeys`; ENTER refuses a key made with any other secret than the stored one (STALE: the process
fetches the secret again). Whichever script first runs at or after the opening draws (the admission
run from beat, an entry or poll that comes first, or a read of the published draw), inside that one
atomic script: it sorts the keys, places the buyers, writes the keys in that order and `drawn`, and
removes the pre-queue; a second script finds `drawn` set and draws nothing. The secret stays and is
published with the order after the draw.

Because the secret exists before the draw, a pre-queued buyer's key is already known, and with it
roughly where the buyer will stand: its first 32 bits over 2^32 (the buyer's quantile in the draw)
times the pre-queue's size. ENTER and STATUS return that quantile to the pre-queued, so each comes
back after the opening in the order of the draw, spread over a window sized to the pre-queue: the
buyers drawn first learn their place first, and the 12,000 of a big opening do not all ask at once.
"""

from collections.abc import Callable
from functools import cache
from typing import Any

from redis.client import Pipeline
from redis.cluster import RedisCluster
from redis.commands.core import AsyncScript, Script
from redis.exceptions import NoScriptError

from apps.common.redis import get_redis

# A place the scripts report as "no position yet" (pre-queued, before the draw).
NO_POSITION = -1
# ENTER's answer when the seat counts are missing and it would have to place a newcomer: nothing was
# done; Python rebuilds the counts and runs ENTER again.
NEED_COUNTS = "NEED_COUNTS"

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

-- The draw, once per date: every pre-queued buyer gets a place in ascending order of the draw keys
-- stored at entry, after everyone already placed; the keys are written in that order (`order`) and
-- `drawn` is set. Returns how many were drawn (0 when it had been drawn already).
local function draw_prequeue(prequeue, drawkeys, order, waiting, seq, seen, drawn, now)
  if redis.call('EXISTS', drawn) == 1 then
    return 0
  end
  local members = redis.call('SMEMBERS', prequeue)
  local keyed = {}
  for from = 1, #members, 500 do
    local chunk = {unpack(members, from, math.min(from + 499, #members))}
    local stored = redis.call('HMGET', drawkeys, unpack(chunk))
    for i, uid in ipairs(chunk) do
      -- A member without a key (entered before keys were stored) is placed last, and not published.
      keyed[#keyed + 1] = (stored[i] and string.sub(stored[i], 1, 64) or string.rep('~', 64)) .. uid
    end
  end
  table.sort(keyed)
  local first = redis.call('INCRBY', seq, #keyed) - #keyed
  local published = {}
  for from = 1, #keyed, 500 do
    local places, heartbeats = {}, {}
    for i = from, math.min(from + 499, #keyed) do
      local uid = string.sub(keyed[i], 65)
      places[#places + 1] = first + i
      places[#places + 1] = uid
      heartbeats[#heartbeats + 1] = now
      heartbeats[#heartbeats + 1] = uid
      if string.byte(keyed[i]) ~= 126 then
        published[#published + 1] = string.sub(keyed[i], 1, 64) .. '\\n'
      end
    end
    redis.call('ZADD', waiting, unpack(places))
    redis.call('ZADD', seen, unpack(heartbeats))
  end
  redis.call('SET', order, table.concat(published))
  redis.call('DEL', prequeue, drawkeys)
  redis.call('SET', drawn, now .. ':' .. #published)
  return #keyed
end

-- A pre-queued buyer's answer: no place yet, the buyer's quantile in the coming draw (the first 32
-- bits of the draw key; -1 without one), the pre-queue's size and the buyer's nonce.
local function prequeued(prequeue, drawkeys, uid, created)
  local stored = redis.call('HGET', drawkeys, uid)
  local quantile, nonce = -1, ''
  if stored then
    quantile, nonce = tonumber(string.sub(stored, 1, 8), 16), string.sub(stored, 65)
  end
  return {'WAITING', -1, 0, created, quantile, redis.call('SCARD', prequeue), nonce}
end

-- A waiter's answer: the place, the observed rate and the line's length (which paces the polls).
local function waiter(waiting, admissions, rank, created, now, window)
  local total, span = observed_rate(admissions, now, window)
  return {'WAITING', rank + 1, 0, created, total, span, redis.call('ZCARD', waiting)}
end

-- Where the user already stands: admitted (and not expired), waiting with a place (which stamps the
-- heartbeat), or pre-queued without one; nil when none of these.
local function current_place(waiting, active, seen, admissions, prequeue, drawkeys, uid, now, window)
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
    return prequeued(prequeue, drawkeys, uid, 0)
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

-- The date's seat counts {available, held} (the last key); -1s when the key is missing.
local function seat_counts(key)
  local counts = redis.call('HMGET', key, 'available', 'held')
  local available, held = tonumber(counts[1]), tonumber(counts[2])
  if not available or not held then
    return {-1, -1}
  end
  return {math.max(available, 0), math.max(held, 0)}
end

local function sold_out(counts)
  return counts[1] == 0 and counts[2] == 0
end

local function with_counts(reply, counts)
  reply[#reply + 1] = counts[1]
  reply[#reply + 1] = counts[2]
  return reply
end
"""

# KEYS: waiting, active, seq, seen, admissions, arrived, prequeue, drawn, idle, control, secret, drawkeys,
#       order, seat counts
# ARGV: user_id, now_ms, capacity, auto(0/1), token_ttl_ms, rate_window_ms, opens_ms, secret, idle_ms,
#       draw_key, nonce (the last three used by a pre-queue entry only: the key made with that secret)
# → {status, position (-1: none yet), expires_ms, created(0/1), then for a waiter
#    admitted_in_window, window_span_ms, line_length; for the pre-queued quantile (of 2^32), prequeue_size,
#    nonce; always last: seats available, seats held (-1, -1: counts missing)}; SOLD_OUT: no new place
#    given; NEED_COUNTS: a newcomer and no counts, nothing done; {'STALE'} when the secret is not the
#    stored one (nothing changed)
ENTER = (
    _COMMON
    + """
local uid, now, cap, auto = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl, window, opens, idle = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[9])
local open = is_open(KEYS[8], now, opens)
if open then
  draw_prequeue(KEYS[7], KEYS[12], KEYS[13], KEYS[1], KEYS[3], KEYS[4], KEYS[8], now)
end
local counts = seat_counts(KEYS[#KEYS])
local place = current_place(KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[7], KEYS[12], uid, now, window)
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
if counts[1] > 0 and redis.call('ZCARD', KEYS[1]) == 0
    and redis.call('ZCARD', KEYS[2]) < capacity(KEYS[10], auto, cap) then
  local expires = now + ttl
  redis.call('ZADD', KEYS[2], expires, uid)
  redis.call('ZADD', KEYS[9], now + idle, uid)
  return with_counts({'READY', 0, expires, 1}, counts)
end
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], seq, uid)
redis.call('ZADD', KEYS[4], now, uid)
redis.call('HSET', KEYS[6], uid, now)
return with_counts(waiter(KEYS[1], KEYS[5], redis.call('ZRANK', KEYS[1], uid), 1, now, window), counts)
"""
)

# KEYS: waiting, active, seen, admissions, prequeue, seq, drawn, drawkeys, order, seat counts
# ARGV: user_id, now_ms, rate_window_ms, opens_ms
# → as ENTER's, created always 0 (never SOLD_OUT: Python reads that from the counts)
STATUS = (
    _COMMON
    + """
local uid, now, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if now >= tonumber(ARGV[4]) then
  draw_prequeue(KEYS[5], KEYS[8], KEYS[9], KEYS[1], KEYS[6], KEYS[3], KEYS[7], now)
end
local place = current_place(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[8], uid, now, window)
return with_counts(place or {'NOT_IN_QUEUE', 0, 0, 0}, seat_counts(KEYS[#KEYS]))
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

# KEYS: waiting, active, seen, admissions, arrived, prequeue, seq, drawn, idle, control, decisions, drawkeys,
#       order, seat counts
# ARGV: now_ms, batch (-1: no batch limit), capacity, auto(0/1), token_ttl_ms, heartbeat_cutoff_ms,
#       rate_window_ms, cleanup_limit, run_id, opens_ms,
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
local count = cap - redis.call('ZCARD', KEYS[2])
if batch >= 0 then
  count = math.min(batch, count)
end
if counts[1] >= 0 then
  count = math.min(count, counts[1])  -- nobody into a date without a free seat; one buyer a free seat at most
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


# KEYS: prequeue, drawkeys, order, waiting, seq, seen, drawn
# ARGV: now_ms, opens_ms
# → how many were drawn (0: not open yet, or drawn already)
DRAW = (
    _COMMON
    + """
local now = tonumber(ARGV[1])
if now < tonumber(ARGV[2]) then
  return 0
end
return draw_prequeue(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], now)
"""
)


@cache
def _registered(source: str) -> Script | AsyncScript:
    return get_redis().register_script(source)


def run(source: str, keys: list[str], args: list[object]) -> list:
    """Run a script by SHA (EVALSHA; redis-py loads it once on NOSCRIPT) on the current client."""
    return _registered(source)(keys=keys, args=args, client=get_redis())


def run_in_round_trip(
    source: str,
    keys: list[str],
    args: list[object],
    *,
    before: Callable[[Pipeline], None] | None = None,
    after: Callable[[Pipeline], object] | None = None,
) -> tuple[list, Any]:
    """Run a script by SHA with the commands `before` queues ahead of it and `after` behind it, in one
    round trip: for keys outside the script's hash-tag slot, which the script itself may not touch
    in a Cluster. Returns (the replies of the `before` commands, the script's reply).

    A plain pipeline, not redis-py's script-in-pipeline, which asks SCRIPT EXISTS first on every
    execute (one more round trip). On NOSCRIPT (a Redis that restarted, flushed its scripts or never
    saw this one) the commands around the script have run all the same, so only the script is sent
    again, alone (redis-py loads it): a rate limit in `before` is never counted twice."""
    script = _registered(source)
    redis = get_redis()
    if isinstance(redis, RedisCluster):
        # redis-py refuses EVALSHA inside a cluster pipeline: the commands before, the script, the
        # commands after, each its own request (a cluster pipeline goes to each key's node anyway).
        replies = _execute(redis, before) if before else []
        result = script(keys=keys, args=args, client=redis)
        if after:
            _execute(redis, after)
        return replies, result
    pipe = redis.pipeline(transaction=False)
    if before:
        before(pipe)
    ahead = len(pipe)
    pipe.evalsha(script.sha, len(keys), *keys, *args)
    if after:
        after(pipe)
    replies = pipe.execute(raise_on_error=False)
    if isinstance(replies[ahead], NoScriptError):
        replies[ahead] = script(keys=keys, args=args, client=redis)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies[:ahead], replies[ahead]


def _execute(redis: RedisCluster, queue: Callable[[Pipeline], object]) -> list:
    pipe = redis.pipeline(transaction=False)
    queue(pipe)
    return pipe.execute()
