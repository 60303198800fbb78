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
        published[#published + 1] = string.sub(keyed[i], 1, 64) .. '\n'
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

-- A waiter's answer: the place, the observed rate, the line's length (which paces the polls) and the
-- waiter's number (the score in the line: fixed for the wait, admission follows it; see ADMIT's
-- `admitted_through`).
local function waiter(waiting, admissions, uid, rank, created, now, window)
  local total, span = observed_rate(admissions, now, window)
  return {'WAITING', rank + 1, 0, created, total, span, redis.call('ZCARD', waiting),
          redis.call('ZSCORE', waiting, uid)}
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
    return waiter(waiting, admissions, uid, rank, 0, now, window)
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

-- How many admitted buyers the date's unsold seats can still serve: its free and held seats over the
-- mean seats a hold has taken (`holds`, `hold_seats` in the controller's hash, counted by RECORD).
-- A holder's seats are among the held, and each buyer admitted but not yet holding will ask for about
-- the mean from the free ones: admitting beyond this only sends buyers to find nothing left. Until
-- holds are counted the mean is one seat (PRIOR_HOLDS of them weigh in: a few holds move it little).
-- Rounded up (the last buyer may find fewer seats than asked for, and can take those), and one more
-- (ROOM_SLACK): a buyer who cannot use the last seats (wants more of them, or side by side) must not
-- hold the line up until giving up. nil while the counts are missing.
local PRIOR_HOLDS = 10
local ROOM_SLACK = 1
local function seat_room(control, counts)
  if counts[1] < 0 then
    return nil
  end
  local stats = redis.call('HMGET', control, 'holds', 'hold_seats')
  local holds, seats = tonumber(stats[1]) or 0, tonumber(stats[2]) or 0
  return math.ceil((counts[1] + counts[2]) * (holds + PRIOR_HOLDS) / (seats + PRIOR_HOLDS)) + ROOM_SLACK
end

local function sold_out(counts)
  return counts[1] == 0 and counts[2] == 0
end

local function with_counts(reply, counts)
  reply[#reply + 1] = counts[1]
  reply[#reply + 1] = counts[2]
  return reply
end
