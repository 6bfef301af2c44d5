-- Renew leases: what each still holds lives ttl ms more; what has
-- expired is not brought back. A key the script cannot read (another
-- type than agentgate writes there) is skipped, so that one bad key does
-- not keep the batch's other leases from their renewal; the reply counts
-- the keys skipped.
-- KEYS[i]: a Slots rule's key (class s) or a Quota rule's (class q).
-- ARGV: ttl (ms), then per key: class, lease.
local ttl = tonumber(ARGV[1])
local now = now_ms()
local skipped = 0
for i = 1, #KEYS do
  local class, lease = ARGV[2 * i], ARGV[2 * i + 1]
  local k = KEYS[i]
  local z = k
  if class == 'q' then z = k .. ':x' end
  local expires = redis.pcall('ZSCORE', z, lease)
  if type(expires) == 'table' and expires.err then
    skipped = skipped + 1
  elseif expires and tonumber(expires) > now then
    redis.call('ZADD', z, now + ttl, lease)
    extend(z, ttl)
    if class == 'q' then extend(k, ttl) end
  end
end
return skipped
