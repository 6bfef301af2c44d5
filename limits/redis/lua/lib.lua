-- Shared by every agentgate limits script (prepended to each). Time is
-- the server's (TIME), in milliseconds since the Unix epoch, so gateway
-- instances with skewed clocks agree.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- month_of names the calendar month (UTC) of ms as "YYYY-MM", as Go's
-- state.MonthKey does (days from civil, after Howard Hinnant).
local function month_of(ms)
  local z = math.floor(ms / 86400000) + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d', y, m)
end

-- Buckets hold max tokens refilled smoothly over a minute: t tokens
-- (fractional; negative is debt) as of l (ms).
local PERIOD = 60000

local function bucket(k, max, now)
  local v = redis.call('HMGET', k, 't', 'l')
  local tokens, last = max, now
  if v[1] then
    tokens, last = tonumber(v[1]), tonumber(v[2])
    if now > last then
      tokens = tokens + (now - last) * max / PERIOD
      last = now
    end
  end
  if tokens > max then tokens = max end
  return tokens, last
end

-- store_bucket keeps a bucket until it would be full again (an absent
-- bucket is a full one).
local function store_bucket(k, max, tokens, last)
  redis.call('HSET', k, 't', string.format('%.17g', tokens), 'l', last)
  redis.call('PEXPIRE', k, math.ceil((max - tokens) * PERIOD / max) + 1000)
end

-- extend makes k live at least ttl ms more.
local function extend(k, ttl)
  if redis.call('PTTL', k) < ttl then
    redis.call('PEXPIRE', k, ttl)
  end
end

-- A month's figure is kept this long after it was seeded (seconds):
-- past its month's end whatever day it began.
local MONTH_KEEP = 40 * 86400
