-- KEYS: prequeue, drawkeys, order, waiting, seq, seen, drawn, due
-- ARGV: now_ms, opens_ms, poll budget a second, poll cap s
-- → how many were drawn (0: not open yet, or drawn already)
local now = tonumber(ARGV[1])
local pace = {opens = tonumber(ARGV[2]), budget = tonumber(ARGV[3]), cap = tonumber(ARGV[4])}
if now < pace.opens then
  return 0
end
return draw_prequeue(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], now, pace)
