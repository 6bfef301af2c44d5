-- Renew leases: what each still holds lives ttl ms more; what has
-- expired is not brought back.
-- KEYS[i]: a Slots rule's key (class s) or a Quota rule's (class q).
-- ARGV: ttl (ms), then per key: class, lease.
local ttl = tonumber(ARGV[1])
local now = now_ms()
for i = 1, #KEYS do
  local class, lease = ARGV[2 * i], ARGV[2 * i + 1]
  local k = KEYS[i]
  local z = k
  if class == 'q' then z = k .. ':x' end
  local expires = redis.call('ZSCORE', z, lease)
  if expires and tonumber(expires) > now then
    redis.call('ZADD', z, now + ttl, lease)
    extend(z, ttl)
    if class == 'q' then extend(k, ttl) end
  end
end
return 1
