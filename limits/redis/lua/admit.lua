-- Admit a request, all or nothing.
-- KEYS[i]: rule i's key. ARGV: lease, ttl (ms), peek (1: take nothing),
-- then per rule: class (s slots, b bucket, q quota), max, amount, seed
-- ("YYYY-MM:used" or "").
-- Slots: a sorted set of leases scored by expiry. Quotas: a hash of the
-- leases' reservations and their total (field r), the sorted set
-- KEYS[i]..':x' of their expiries, and the month's used tokens in
-- KEYS[i]..':'..month.
-- Reply: admitted (0/1), now (ms), refused (0-based, -1), n unseeded,
-- the unseeded rules (0-based), then per rule: remaining, reset (ms),
-- retry after (ms), used, reserved.
local lease, ttl, peek = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local now = now_ms()
local month = month_of(now)
local n = #KEYS
local state, tokens = {}, {}
local refused, unseeded = -1, {}
for i = 1, n do
  local a = 3 + (i - 1) * 4
  local class, max, amount, seed = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), ARGV[a + 4]
  local k = KEYS[i]
  local remaining, reset, retry, used, reserved = 0, 0, 0, 0, 0
  local fits = true
  if class == 's' then
    redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
    local held = redis.call('ZCARD', k)
    remaining = max - held
    fits = held + amount <= max
  elseif class == 'b' then
    local t, l = bucket(k, max, now)
    tokens[i] = {t, l}
    remaining = math.floor(math.max(0, t))
    reset = math.ceil((max - t) * PERIOD / max)
    if amount > t then
      fits = false
      retry = math.ceil((amount - t) * PERIOD / max)
    end
  else
    local x = k .. ':x'
    local expired = redis.call('ZRANGEBYSCORE', x, '-inf', now)
    if #expired > 0 then
      for _, id in ipairs(expired) do
        local held = redis.call('HGET', k, id)
        if held then
          redis.call('HDEL', k, id)
          redis.call('HINCRBY', k, 'r', -tonumber(held))
        end
      end
      redis.call('ZREMRANGEBYSCORE', x, '-inf', now)
    end
    local u = k .. ':' .. month
    used = redis.call('GET', u)
    if not used and string.sub(seed, 1, 7) == month then
      used = string.sub(seed, 9)
      redis.call('SET', u, used, 'EX', MONTH_KEEP)
    end
    if used then
      used = tonumber(used)
      reserved = tonumber(redis.call('HGET', k, 'r') or '0')
      remaining = math.max(0, max - used - reserved)
      fits = used + reserved + amount <= max
    else
      used = 0
      unseeded[#unseeded + 1] = i - 1
    end
  end
  if not fits and refused < 0 then refused = i - 1 end
  state[i] = {remaining, reset, retry, used, reserved}
end

local admitted = 0
if #unseeded == 0 and not peek and refused < 0 then
  admitted = 1
  local expires = now + ttl
  for i = 1, n do
    local a = 3 + (i - 1) * 4
    local class, max, amount = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    local k, st = KEYS[i], state[i]
    if class == 'b' then
      local t = tokens[i][1] - amount
      store_bucket(k, max, t, tokens[i][2])
      st[1] = math.floor(math.max(0, t))
      st[2] = math.ceil((max - t) * PERIOD / max)
    elseif amount > 0 then
      if class == 's' then
        redis.call('ZADD', k, expires, lease)
        extend(k, ttl)
      else
        redis.call('HSET', k, lease, amount)
        redis.call('HINCRBY', k, 'r', amount)
        redis.call('ZADD', k .. ':x', expires, lease)
        extend(k, ttl)
        extend(k .. ':x', ttl)
      end
      st[1] = math.max(0, st[1] - amount)
    end
  end
end

local reply = {admitted, now, refused, #unseeded}
for _, i in ipairs(unseeded) do reply[#reply + 1] = i end
for i = 1, n do
  for _, v in ipairs(state[i]) do reply[#reply + 1] = v end
end
return reply
