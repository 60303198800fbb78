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
  due         ZSET user_id → ms by which the waiter's next poll can have come (see "Passed over" below)
  parked      ZSET user_id → place number, waiters admission passed over while late for their poll
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
admits at once only while a seat is free and the admitted are fewer than the unsold seats serve
(common.lua `seat_room`). ADMIT admits nobody while no seat is free, at most one buyer per free seat,
and no more than `seat_room` less those admitted; while sold out it drops no silent waiter (they were
told to stop asking) and stamps `sold_out_at`: waiters keep their places QUEUE_HEARTBEAT_TIMEOUT_SECONDS
past the last sold-out run, long enough to check again once seats come back.

Only admissions from the line are recorded in `admissions`: an entrant admitted at once (nobody was
waiting) does not move the line, and counting the first rush of immediate admissions would make the
line look several times faster than it is for minutes afterwards. It also keeps that set at one
member per admission run, which ENTER and STATUS scan on every call.

Passed over. Each answer to a waiter tells it when to poll again (line.py); the script that answers
records when that poll can have come at the latest (`due`: common.lua told_bound_ms bounds the interval
told from the place, the line's length and the counts, and adds what a page with an open stream waits
more), and the draw records it for each drawn buyer from the opening and its quantile. ADMIT, in order
of number, admits a waiter not later than that by more than QUEUE_POLL_GRACE_SECONDS, its first idle
deadline at the due poll plus the grace; a waiter later than that (a closed page, a buyer who gave up in
the crowd) is passed over into `parked` with its number, instead of holding a place nobody claims for
minutes. A parked waiter who polls again is admitted at once if there is room, else put back in line
with its own number (first, or nearly); the heartbeat timeout ends a parked waiter's place as a
waiter's. While the date is sold out the line was told to stop asking: when seats come back its
waiters are late and passed over, and let in as they come back.

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

from apps.common import lua

# A place the scripts report as "no position yet" (pre-queued, before the draw).
NO_POSITION = -1
# ENTER's answer when the seat counts are missing and it would have to place a newcomer: nothing was
# done; Python rebuilds the counts and runs ENTER again.
NEED_COUNTS = "NEED_COUNTS"
# ENTER's answer when the draw key was made with another secret than the stored one: nothing was done;
# Python fetches the secret and runs ENTER again.
STALE = "STALE"

# Each script's text, with its KEYS, ARGV and reply, is in lua/<name>.lua beside this module; those
# that place buyers share the functions of lua/common.lua.
_COMMON = lua.load(__file__, "common")
ENTER = _COMMON + lua.load(__file__, "enter")  # take a place (or the pre-queue), or admit at once
STATUS = _COMMON + lua.load(__file__, "status")  # where a buyer stands; the waiter's heartbeat
LEAVE = lua.load(__file__, "leave")  # give the place or the access back
CHECK = lua.load(__file__, "check")  # is this access token the user's live one for the date
RECORD = lua.load(__file__, "record")  # one booking request's latency, for the controller
ADMIT = _COMMON + lua.load(__file__, "admit")  # one admission run: draw, clean up, admit in order
DRAW = _COMMON + lua.load(__file__, "draw")  # the draw alone, for a public read after the opening

# The scripts run through the one runner of apps.common.lua (EVALSHA, NOSCRIPT reload, pipelines).
_registered = lua.registered
run = lua.run
run_in_round_trip = lua.run_in_round_trip
