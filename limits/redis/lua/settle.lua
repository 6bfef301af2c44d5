-- Settle a lease: free what it still holds, give back to (or take from)
-- its buckets, and add what it spent to each quota month the server has
-- a figure for (one it has none of is seeded later from the usage
-- records, which hold this usage too).
-- KEYS[i]: rule i's key. ARGV: lease, then per rule: class, max,
-- refund (buckets), n months, then n pairs of month ("YYYY-MM") and
-- amount.
local lease = ARGV[1]
local now = now_ms()
local a = 2
for i = 1, #KEYS do
  local class, max, refund, months = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local k = KEYS[i]
  if class == 's' then
    redis.call('ZREM', k, lease)
  elseif class == 'b' then
    if refund ~= 0 then
      local t, l = bucket(k, max, now)
      store_bucket(k, max, math.min(max, t + refund), l)
    end
  else
    local held = redis.call('HGET', k, lease)
    if held then
      redis.call('HDEL', k, lease)
      redis.call('HINCRBY', k, 'r', -tonumber(held))
    end
    redis.call('ZREM', k .. ':x', lease)
    for j = 1, months do
      local u = k .. ':' .. ARGV[a + 2 + 2 * j]
      if redis.call('EXISTS', u) == 1 then
        redis.call('INCRBY', u, ARGV[a + 3 + 2 * j])
      end
    end
  end
  a = a + 4 + 2 * months
end
return 1
