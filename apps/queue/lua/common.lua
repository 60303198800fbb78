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
-- `drawn` is set. Each drawn buyer is due back (`due`) when the last poll before the opening can have
-- sent it: 2 + q x window seconds after the opening (line.py prequeue_poll_after_seconds: q the buyer's
-- quantile, the window the pre-queue's size over the poll budget, 10 s to the poll cap). Returns how
-- many were drawn (0 when it had been drawn already).
-- `pace`: its fields opens (ms), budget (polls a second) and cap (the poll cap, s) are read here.
local function draw_prequeue(prequeue, drawkeys, order, waiting, seq, seen, drawn, due, now, pace)
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
  local window = math.min(math.max(#keyed / pace.budget, 10), pace.cap)
  local published = {}
  for from = 1, #keyed, 500 do
    local places, heartbeats, dues = {}, {}, {}
    for i = from, math.min(from + 499, #keyed) do
      local uid = string.sub(keyed[i], 65)
      places[#places + 1] = first + i
      places[#places + 1] = uid
      heartbeats[#heartbeats + 1] = now
      heartbeats[#heartbeats + 1] = uid
      local quantile = tonumber(string.sub(keyed[i], 1, 8), 16) or 4294967295
      dues[#dues + 1] = math.max(now, pace.opens + math.ceil((2 + quantile / 4294967296 * window) * 1000))
      dues[#dues + 1] = uid
      if string.byte(keyed[i]) ~= 126 then
        published[#published + 1] = string.sub(keyed[i], 1, 64) .. '\n'
      end
    end
    redis.call('ZADD', waiting, unpack(places))
    redis.call('ZADD', seen, unpack(heartbeats))
    redis.call('ZADD', due, unpack(dues))
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

-- The longest a waiter at `position` in a line of `length` can have been told to wait before the next
-- poll (line.py: poll_after_seconds while a seat is free, held_seats_poll_after_seconds while none is,
-- the larger without counts; both within the poll cap), plus what a page whose stream will tell it its
-- turn adds (as much again, a minute at most: waiting-room.js pollDelay), in ms. An upper bound: the
-- answer's random spread and its "half the estimated wait" only shorten the interval told.
-- `pace`: {batch (QUEUE_ADMIT_BATCH), budget (QUEUE_POLL_BUDGET), cap (the poll cap, s)}.
local function told_bound_ms(position, length, available, pace)
  local band = 60
  if position <= pace.batch then
    band = 4
  elseif position <= 5 * pace.batch then
    band = 10
  elseif position <= 20 * pace.batch then
    band = 30
  end
  local free = math.max(band, 1.2 * position * math.log(math.max(length, position) + 1) / pace.budget)
  local held = math.max(27, 1.2 * length / pace.budget)
  local told = free
  if available == 0 then
    told = held
  elseif available < 0 then
    told = math.max(free, held)
  end
  told = math.min(told, pace.cap)
  return math.ceil((told + math.min(told, 60)) * 1000)
end

-- A waiter's poll: the heartbeat, and when the next one is due (admission passes over a waiter too late
-- for it: admit.lua).
local function stamp_waiter(line, uid, rank, counts, now, pace)
  redis.call('ZADD', line.seen, now, uid)
  local length = redis.call('ZCARD', line.waiting)
  redis.call('ZADD', line.due, now + told_bound_ms(rank + 1, length, counts[1], pace), uid)
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

-- Room to admit one buyer at once: a seat free, and fewer admitted than the capacity and than the
-- unsold seats serve (seat_room).
local function room_for_one(line, counts, ask)
  return counts[1] > 0 and redis.call('ZCARD', line.active)
    < math.min(capacity(line.control, ask.auto, ask.capacity), seat_room(line.control, counts))
end

-- What a waiter's place keeps and an admitted one does not: the heartbeat, the due poll, the arrival.
-- `line`: the date's keys by name (seen, due and arrived are read).
local function forget_waiter(line, uid)
  redis.call('ZREM', line.seen, uid)
  redis.call('ZREM', line.due, uid)
  redis.call('HDEL', line.arrived, uid)
end

-- Admit `uid` now: the access token's expiry (returned) and the first idle deadline.
local function admit_now(line, uid, now, ask)
  local expires = now + ask.ttl
  redis.call('ZADD', line.active, expires, uid)
  redis.call('ZADD', line.idle, now + ask.idle, uid)
  return expires
end

-- Where the user already stands; nil when nowhere:
-- - admitted, the token live and the place not idle past its deadline: READY, and the buyer, here now,
--   has an idle period from now (the deadline never moves earlier: a live hold may have set it later);
--   a place idle past its deadline ends here, as check.lua ends it;
-- - passed over by admission while late for a poll (`parked`, admit.lua): admitted now when there is
--   room (its turn came while it was away), else back in line with its own number, ahead of everyone
--   numbered after it;
-- - waiting with a place: the heartbeat and when the next poll is due (stamp_waiter);
-- - pre-queued without a place yet: the heartbeat.
-- `line`: the date's keys by name; `ask`: {ttl, idle (ms), auto, capacity, window, and the pace}.
local function current_place(line, uid, counts, now, ask)
  local expires = tonumber(redis.call('ZSCORE', line.active, uid))
  if expires and expires > now then
    local deadline = tonumber(redis.call('ZSCORE', line.idle, uid))
    if not deadline or deadline > now then
      redis.call('ZADD', line.idle, 'GT', now + ask.idle, uid)
      return {'READY', 0, expires, 0}
    end
    redis.call('ZREM', line.active, uid)
    redis.call('ZREM', line.idle, uid)
  end
  local number = redis.call('ZSCORE', line.parked, uid)
  if number then
    redis.call('ZREM', line.parked, uid)
    if room_for_one(line, counts, ask) then
      forget_waiter(line, uid)
      return {'READY', 0, admit_now(line, uid, now, ask), 0}
    end
    redis.call('ZADD', line.waiting, number, uid)
  end
  local rank = redis.call('ZRANK', line.waiting, uid)
  if rank then
    stamp_waiter(line, uid, rank, counts, now, ask)
    return waiter(line.waiting, line.admissions, uid, rank, 0, now, ask.window)
  end
  if redis.call('SISMEMBER', line.prequeue, uid) == 1 then
    redis.call('ZADD', line.seen, now, uid)
    return prequeued(line.prequeue, line.drawkeys, uid, 0)
  end
  return nil
end

-- ENTER's and STATUS's keys and arguments by name: the two scripts share one layout (line.py builds it).
-- KEYS: waiting, active, seq, seen, admissions, arrived, prequeue, drawn, idle, control, secret, drawkeys,
--       order, due, parked, seat counts
-- ARGV: user_id, now_ms, capacity, auto(0/1), token_ttl_ms, rate_window_ms, opens_ms, idle_ms,
--       batch (QUEUE_ADMIT_BATCH), poll budget a second, poll cap s (the pace the answer's poll is told at),
--       then ENTER's own arguments
local function line_keys()
  return {
    waiting = KEYS[1], active = KEYS[2], seq = KEYS[3], seen = KEYS[4], admissions = KEYS[5], arrived = KEYS[6],
    prequeue = KEYS[7], drawn = KEYS[8], idle = KEYS[9], control = KEYS[10], secret = KEYS[11],
    drawkeys = KEYS[12], order = KEYS[13], due = KEYS[14], parked = KEYS[15], counts = KEYS[16],
  }
end

local function line_ask()
  return {
    capacity = tonumber(ARGV[3]), auto = tonumber(ARGV[4]), ttl = tonumber(ARGV[5]), window = tonumber(ARGV[6]),
    opens = tonumber(ARGV[7]), idle = tonumber(ARGV[8]), batch = tonumber(ARGV[9]), budget = tonumber(ARGV[10]),
    cap = tonumber(ARGV[11]),
  }
end
