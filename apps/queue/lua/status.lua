-- KEYS, ARGV: the line's layout (common.lua line_keys, line_ask), no more
-- → as ENTER's, created always 0 (never SOLD_OUT: Python reads that from the counts)
local uid, now = ARGV[1], tonumber(ARGV[2])
local line, ask = line_keys(), line_ask()
if now >= ask.opens then
  draw_prequeue(line.prequeue, line.drawkeys, line.order, line.waiting, line.seq, line.seen, line.drawn, line.due,
                now, ask)
end
local counts = seat_counts(line.counts)
return with_counts(current_place(line, uid, counts, now, ask) or {'NOT_IN_QUEUE', 0, 0, 0}, counts)
