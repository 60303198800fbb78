-- KEYS: prequeue, drawkeys, order, waiting, seq, seen, drawn
-- ARGV: now_ms, opens_ms
-- → how many were drawn (0: not open yet, or drawn already)
local now = tonumber(ARGV[1])
if now < tonumber(ARGV[2]) then
  return 0
end
return draw_prequeue(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], now)
