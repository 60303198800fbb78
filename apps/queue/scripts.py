"""The waiting room's Lua scripts. Each state change is one script, atomic in Redis with no lock
and no read-modify-write from Python. Every key a script touches is passed in KEYS and carries the
date's hash tag (`queue:{<date_id>}:…`), so all of them live in one Redis Cluster slot.

Keys of one concert date (named in keys.QueueKeys); the statuses the scripts return are the values
of models.QueueStatus:
  waiting     ZSET user_id → arrival number (strict FIFO: numbers come from INCR on `seq`)
  seq         STRING arrival counter
  seen        ZSET user_id → last poll time in ms (heartbeat of waiters)
  arrived     HASH user_id → arrival time in ms (for operators: how long the head has waited)
  active      ZSET user_id → access expiry in ms (the record of each access token)
  admissions  ZSET "<ms>:<n>:<run>" → ms, admission runs of the last few minutes (the observed rate)

Only admissions from the line are recorded in `admissions`: an entrant admitted at once (nobody was
waiting) does not move the line, and counting the first rush of immediate admissions would make the
line look several times faster than it is for minutes afterwards. It also keeps that set at one
member per admission run, which ENTER and STATUS scan on every call.
"""

from collections.abc import Callable
from functools import cache

from redis.client import Pipeline
from redis.cluster import RedisCluster
from redis.commands.core import AsyncScript, Script
from redis.exceptions import NoScriptError

from apps.common.redis import get_redis

# The observed rate, returned by ENTER and STATUS to waiters in the same round trip: the admissions
# made after the first run in the window, over the time since that run. The first run's own count is
# left out because it is where the measured span begins; counting it (k runs over k-1 intervals)
# would overstate the pace by half with three runs of history, and promise waits that are too short.
_RATE = """
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

-- Where the user already stands: admitted (and not expired), or waiting (which stamps the heartbeat);
-- nil when neither.
local function current_place(waiting, active, seen, admissions, uid, now, window)
  local expires = tonumber(redis.call('ZSCORE', active, uid))
  if expires and expires > now then
    return {'READY', 0, expires, 0}
  end
  local rank = redis.call('ZRANK', waiting, uid)
  if rank then
    redis.call('ZADD', seen, now, uid)
    local total, span = observed_rate(admissions, now, window)
    return {'WAITING', rank + 1, 0, 0, total, span}
  end
  return nil
end
"""

# KEYS: waiting, active, seq, seen, admissions, arrived
# ARGV: user_id, now_ms, max_active, token_ttl_ms, rate_window_ms
# → {status, position, expires_ms, created(0/1), admitted_in_window, window_span_ms}
ENTER = (
    _RATE
    + """
local uid, now, max_active, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local place = current_place(KEYS[1], KEYS[2], KEYS[4], KEYS[5], uid, now, tonumber(ARGV[5]))
if place then
  return place
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) == 0 and redis.call('ZCARD', KEYS[2]) < max_active then
  local expires = now + ttl
  redis.call('ZADD', KEYS[2], expires, uid)
  return {'READY', 0, expires, 1}
end
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], seq, uid)
redis.call('ZADD', KEYS[4], now, uid)
redis.call('HSET', KEYS[6], uid, now)
local total, span = observed_rate(KEYS[5], now, tonumber(ARGV[5]))
return {'WAITING', redis.call('ZRANK', KEYS[1], uid) + 1, 0, 1, total, span}
"""
)

# KEYS: waiting, active, seen, admissions
# ARGV: user_id, now_ms, rate_window_ms
# → {status, position, expires_ms, 0, admitted_in_window, window_span_ms}
STATUS = (
    _RATE
    + """
local uid, now = ARGV[1], tonumber(ARGV[2])
return current_place(KEYS[1], KEYS[2], KEYS[3], KEYS[4], uid, now, tonumber(ARGV[3])) or {'NOT_IN_QUEUE', 0, 0, 0}
"""
)

# KEYS: waiting, active, seen, arrived
# ARGV: user_id
# → number of structures the user was removed from
LEAVE = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1]) + redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return removed
"""

# KEYS: waiting, active, seen, admissions, arrived
# ARGV: now_ms, batch, max_active, token_ttl_ms, heartbeat_cutoff_ms, rate_window_ms, prune_limit, run_id
# → {admitted, pruned_waiters, expired_actives, active_after, waiting_after}
ADMIT = """
local now, batch, max_active = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl, cutoff, window, prune_limit = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', cutoff, 'LIMIT', 0, prune_limit)
for _, uid in ipairs(stale) do
  redis.call('ZREM', KEYS[1], uid)
  redis.call('ZREM', KEYS[3], uid)
  redis.call('HDEL', KEYS[5], uid)
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
local free = max_active - redis.call('ZCARD', KEYS[2])
local count = math.min(batch, free)
local admitted = 0
if count > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], count)
  for i = 1, #popped, 2 do
    redis.call('ZADD', KEYS[2], now + ttl, popped[i])
    redis.call('ZREM', KEYS[3], popped[i])
    redis.call('HDEL', KEYS[5], popped[i])
    admitted = admitted + 1
  end
  if admitted > 0 then
    redis.call('ZADD', KEYS[4], now, now .. ':' .. admitted .. ':' .. ARGV[8])
  end
end
return {admitted, #stale, expired, redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[1])}
"""

# KEYS: admissions
# ARGV: now_ms, rate_window_ms
# → {admitted in the window, ms since the oldest admission in the window}
RATE = (
    _RATE
    + """
local total, span = observed_rate(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
return {total, span}
"""
)


@cache
def _registered(source: str) -> Script | AsyncScript:
    return get_redis().register_script(source)


def run(source: str, keys: list[str], args: list[object]) -> list:
    """Run a script by SHA (EVALSHA; redis-py loads it once on NOSCRIPT) on the current client."""
    return _registered(source)(keys=keys, args=args, client=get_redis())


def run_then(source: str, keys: list[str], args: list[object], then: Callable[[Pipeline], object]) -> list:
    """Run a script by SHA and, in the same round trip, the commands `then` queues behind it: for a
    key outside the script's hash-tag slot, which the script itself may not touch in a Cluster.

    A plain pipeline, not redis-py's script-in-pipeline, which asks SCRIPT EXISTS first on every
    execute (one more round trip); a NOSCRIPT (Redis restarted or flushed its scripts) loads the
    script and sends the pipeline again, so the queued commands must be safe to repeat."""
    script = _registered(source)
    redis = get_redis()
    if isinstance(redis, RedisCluster):
        # redis-py refuses EVALSHA inside a cluster pipeline: the script, then the rest, in two trips.
        result = script(keys=keys, args=args, client=redis)
        pipe = redis.pipeline(transaction=False)
        then(pipe)
        pipe.execute()
        return result
    for attempt in range(2):
        pipe = redis.pipeline(transaction=False)
        pipe.evalsha(script.sha, len(keys), *keys, *args)
        then(pipe)
        try:
            return pipe.execute()[0]
        except NoScriptError:
            if attempt:
                raise
            script.sha = redis.script_load(script.script)
    raise AssertionError("unreachable")
