package redisstate

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// The scripts run atomically in Redis, so a check and the write that
// follows it can never interleave with another replica's. redis.NewScript
// sends EVALSHA and falls back to EVAL when Redis restarted and lost its
// script cache.
//
// Numbers: Lua numbers are doubles, exact for integers below 2^53; times
// are microseconds since 1970 (about 1.8e15), so arithmetic stays exact.
// Values are written with string.format('%.0f') because Lua's tostring
// would print them in exponent form.

// gcraHead is shared by Allow and Peek: it reads the clock from Redis TIME
// (never the caller's, so replicas with skewed clocks agree) and the
// theoretical arrival time (TAT), which is "now" for an idle key.
const gcraHead = `
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
`

// allowScript takes one unit from a GCRA bucket, or books the next one.
// KEYS[1] bucket; ARGV[1] emission interval in µs (≥ 1); ARGV[2] burst (≥ 1);
// ARGV[3] max wait in µs (0 for Allow; Reserve books a unit due within it).
// Returns {allowed 0|1, remaining, retry_after_us, reset_after_us}; when
// allowed, retry_after_us is the wait before the booked unit may be used.
// The TAT expires (PX) when the bucket would be full again, so idle keys
// vanish.
var allowScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end` + gcraHead + `
local max_wait = tonumber(ARGV[3]) or 0
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
local wait = allow_at - now
if wait > max_wait then
  return {0, 0, wait, tat - now}
end
local ttl_ms = math.ceil((new_tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
if wait > 0 then
  return {1, 0, wait, new_tat - now}
end
return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
`)

// peekScript reports a GCRA bucket without writing: remaining is the units
// available now, allowed whether Allow would succeed.
var peekScript = redis.NewScript(gcraHead + `
local allow_at = tat + interval - burst * interval
local remaining = math.floor((now - tat + burst * interval) / interval)
if allow_at > now then
  return {0, 0, allow_at - now, tat - now}
end
return {1, remaining, 0, tat - now}
`)

// drainScript empties a GCRA bucket as of a moment: the TAT becomes at
// least until + (burst-1)·interval, so the first unit is due at until.
// KEYS[1] bucket; ARGV[1] interval µs; ARGV[2] burst; ARGV[3] until, µs
// since 1970 (the caller's clock: a pause end is an absolute instant).
var drainScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local new_tat = tonumber(ARGV[3]) + (burst - 1) * interval
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or 0
if new_tat <= tat or new_tat <= now then return 0 end
local ttl_ms = math.ceil((new_tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
return 1
`)

// consumeScript takes one unit from every window, or none.
// KEYS[1..n] counters; ARGV[1..n] limits; ARGV[n+1..2n] expiry, unix ms.
// Returns -1 when taken, else the 0-based index of the first full window.
// A key listed twice counts twice, so it cannot overshoot its limit.
var consumeScript = redis.NewScript(`
local n = #KEYS
local add = {}
for i = 1, n do
  local k = KEYS[i]
  add[k] = (add[k] or 0) + 1
  local v = redis.call('GET', k)
  local used = 0
  if v then
    used = tonumber(v)
    -- Refuse before any write: a script error does not roll back.
    if not used then return redis.error_reply('counter is not an integer: ' .. k) end
  end
  if used + add[k] > tonumber(ARGV[i]) then return i - 1 end
end
for i = 1, n do
  redis.call('INCR', KEYS[i])
  redis.call('PEXPIREAT', KEYS[i], ARGV[n + i])
end
return -1
`)

// refundScript returns one unit to every window, never below zero, and
// never creates a counter. DECR keeps the key's expiry.
var refundScript = redis.NewScript(`
for i = 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i])) or 0
  if used > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
`)

// pauseScript keeps the later of the stored and the given end (unix ms),
// expiring the key at that end; an end already past deletes it at once.
var pauseScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1])) or 0
if tonumber(ARGV[1]) > cur then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
end
return 0
`)

var allScripts = []*redis.Script{allowScript, peekScript, drainScript, consumeScript, refundScript, pauseScript}

// loadScripts puts every script in Redis's script cache.
func (s *State) loadScripts(ctx context.Context) error {
	for _, sc := range allScripts {
		if err := sc.Load(ctx, s.client).Err(); err != nil {
			return err
		}
	}
	return nil
}
