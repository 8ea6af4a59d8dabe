"""The Lua scripts a cluster runs in Redis: each is one atomic step of the realm's shared state.

Keys live under a prefix (`pfb:{key}:`), on one Redis (not Redis Cluster: the scripts touch
keys they compute). Times are Redis's own clock (`TIME`, in ms), so the instances' clocks
never need to agree. An id's record is a hash `id:{id}` = {d: token digest, o: owner, ip},
whose TTL is its lease: `alive_timeout + reservation_grace` while an instance holds it (the
instance renews it), `reservation_grace` once its owner left. The owner is
`{incarnation}/{conn}`: one socket of one run of one instance, so nothing a dead instance
said can be mistaken for a live one. Sorted sets with lapse times as scores count what the
caps and the figures need: `res` (every id held or reserved), `ip:{ip}` (per address
range), `away:{ip}` (ids of the range kept for owners who left, oldest first), `held`
(connected peers), `inst` (live instances). Queues for absent peers are lists
`q:{dst}` of `type\\nsrc\\nsize\\nframe`, created at `qs[dst]`, with byte counters per sender
(`qb`) and in all (`qtotal`). Instances hear each other on `ch:{incarnation}`.
"""

from __future__ import annotations

_PRELUDE = """
local P = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function uncount(src, size)
  if redis.call('HINCRBY', P .. 'qb', src, -size) <= 0 then redis.call('HDEL', P .. 'qb', src) end
  redis.call('HINCRBY', P .. 'qtotal', 'bytes', -size)
  redis.call('HINCRBY', P .. 'qtotal', 'count', -1)
end
local function entry_head(e)
  local typ, src, size = string.match(e, '^([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n')
  return typ, src, tonumber(size)
end
"""

#: ARGV: prefix, id, digest, ip, owner, lease ms, max ids, max ids per ip, my incarnation,
#: paced 0/1 (only the owner of a reserved id may claim).
#: -> {'taken'} | {'paced'} | {'full'} | {'ip_full'}
#:    | {'claimed', reserved 0/1, previous owner, entries...}
CLAIM = (
    _PRELUDE
    + """
local id, digest, ip, owner = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local lease, max_total, max_ip = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local key = P .. 'id:' .. id
local cur = redis.call('HMGET', key, 'd', 'o', 'ip')
local reserved = 0
if cur[1] then
  if cur[1] ~= digest then return {'taken'} end
  reserved = 1
  redis.call('ZREM', P .. 'away:' .. (cur[3] or ''), id)
else
  if ARGV[10] == '1' then return {'paced'} end
  redis.call('ZREMRANGEBYSCORE', P .. 'res', '-inf', now)
  if redis.call('ZCARD', P .. 'res') >= max_total then return {'full'} end
  redis.call('ZREMRANGEBYSCORE', P .. 'ip:' .. ip, '-inf', now)
  if redis.call('ZCARD', P .. 'ip:' .. ip) >= max_ip then return {'ip_full'} end
end
if cur[3] and cur[3] ~= ip then redis.call('ZREM', P .. 'ip:' .. cur[3], id) end
redis.call('HSET', key, 'd', digest, 'o', owner, 'ip', ip)
redis.call('PEXPIRE', key, lease)
redis.call('ZADD', P .. 'res', now + lease, id)
redis.call('ZADD', P .. 'ip:' .. ip, now + lease, id)
redis.call('PEXPIRE', P .. 'ip:' .. ip, lease)
redis.call('ZADD', P .. 'held', now + lease, id)
local previous = cur[2] or ''
if previous ~= '' and previous ~= owner then
  local inst = string.match(previous, '^(.*)/')
  if inst and inst ~= ARGV[9] then
    redis.call('PUBLISH', P .. 'ch:' .. inst, 'K\\n' .. id .. '\\n' .. previous)
  end
end
local out = {'claimed', tostring(reserved), previous}
local qkey = P .. 'q:' .. id
local entries = redis.call('LRANGE', qkey, 0, -1)
if #entries > 0 then
  redis.call('DEL', qkey)
  redis.call('ZREM', P .. 'qs', id)
  for _, e in ipairs(entries) do
    local _, src, size = entry_head(e)
    uncount(src, size)
    out[#out + 1] = e
  end
end
return out
"""
)

#: ARGV: prefix, id, owner, grace ms (0: give the id up), most away ids per range (0: no
#: cap). Only the owner's socket may. A kept id past the cap makes its range's oldest go.
#: -> 1 when changed, 0 when the id is someone else's now.
RELEASE = (
    _PRELUDE
    + """
local id, owner, grace = ARGV[2], ARGV[3], tonumber(ARGV[4])
local max_away = tonumber(ARGV[5] or '0')
local key = P .. 'id:' .. id
local cur = redis.call('HMGET', key, 'o', 'ip')
if cur[1] ~= owner then return 0 end
redis.call('ZREM', P .. 'held', id)
local ip = cur[2] or ''
if grace > 0 then
  redis.call('HSET', key, 'o', '')
  redis.call('PEXPIRE', key, grace)
  redis.call('ZADD', P .. 'res', now + grace, id)
  redis.call('ZADD', P .. 'ip:' .. ip, now + grace, id)
  local away = P .. 'away:' .. ip
  redis.call('ZREMRANGEBYSCORE', away, '-inf', now)
  -- Scored by lapse time, kept strictly increasing so that ties keep the order they went in.
  local score = now + grace
  local last = redis.call('ZREVRANGE', away, 0, 0, 'WITHSCORES')
  if last[2] and tonumber(last[2]) >= score then score = tonumber(last[2]) + 1 end
  redis.call('ZADD', away, score, id)
  redis.call('PEXPIRE', away, grace)
  while max_away > 0 and redis.call('ZCARD', away) > max_away do
    local oldest = redis.call('ZPOPMIN', away)[1]
    local okey = P .. 'id:' .. oldest
    if redis.call('HGET', okey, 'o') == '' then
      redis.call('DEL', okey)
      redis.call('ZREM', P .. 'res', oldest)
      redis.call('ZREM', P .. 'ip:' .. ip, oldest)
    end
  end
else
  redis.call('DEL', key)
  redis.call('ZREM', P .. 'res', id)
  redis.call('ZREM', P .. 'ip:' .. ip, id)
end
return 1
"""
)

#: ARGV: prefix, per-sender bytes, per-peer count, total count, total bytes, overhead per
#: message; then five per message: dst, type, src, frame, never queued 0/1.
#: -> one answer per message, in order: 'delivered' | 'dropped' | 'queued' | 'sender_budget'
#:    | 'shared_budget'.
#: Messages for peers held elsewhere go out as one PUBLISH per instance, in order; if nobody
#: hears it (that instance is gone), they are queued instead, as for an absent peer.
ROUTE = (
    _PRELUDE
    + """
local per_sender, per_peer = tonumber(ARGV[2]), tonumber(ARGV[3])
local max_count, max_bytes, overhead = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local out, batches, order, holders = {}, {}, {}, {}

local function enqueue(i, dst, typ, src, frame)
  local size = #frame + overhead
  if tonumber(redis.call('HGET', P .. 'qb', src) or '0') + size > per_sender then
    out[i] = 'sender_budget'
    return
  end
  local qkey = P .. 'q:' .. dst
  local totals = redis.call('HMGET', P .. 'qtotal', 'bytes', 'count')
  if redis.call('LLEN', qkey) >= per_peer or tonumber(totals[2] or '0') >= max_count
    or tonumber(totals[1] or '0') + size > max_bytes then
    out[i] = 'shared_budget'
    return
  end
  if redis.call('EXISTS', qkey) == 0 then redis.call('ZADD', P .. 'qs', now, dst) end
  redis.call('RPUSH', qkey, typ .. '\\n' .. src .. '\\n' .. size .. '\\n' .. frame)
  redis.call('HINCRBY', P .. 'qb', src, size)
  redis.call('HINCRBY', P .. 'qtotal', 'bytes', size)
  redis.call('HINCRBY', P .. 'qtotal', 'count', 1)
  out[i] = 'queued'
end

local n = 0
for a = 7, #ARGV, 5 do
  n = n + 1
  local dst, typ, src, frame, unqueued = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local inst = holders[dst]
  if inst == nil then
    local holder = redis.call('HGET', P .. 'id:' .. dst, 'o')
    inst = (holder and holder ~= '' and string.match(holder, '^(.*)/')) or false
    holders[dst] = inst
  end
  if inst then
    if not batches[inst] then
      batches[inst] = {}
      order[#order + 1] = inst
    end
    local batch = batches[inst]
    batch[#batch + 1] = {n, dst, typ, src, frame, unqueued}
    out[n] = 'delivered'
  elseif unqueued == '1' then
    out[n] = 'dropped'
  else
    enqueue(n, dst, typ, src, frame)
  end
end
for _, inst in ipairs(order) do
  local parts = {'B'}
  for _, m in ipairs(batches[inst]) do
    parts[#parts + 1] = m[2] .. '\\n' .. m[3] .. '\\n' .. m[4] .. '\\n' .. #m[5] .. '\\n' .. m[5]
  end
  if redis.call('PUBLISH', P .. 'ch:' .. inst, table.concat(parts, '\\n')) == 0 then
    for _, m in ipairs(batches[inst]) do
      if m[6] == '1' then out[m[1]] = 'dropped' else enqueue(m[1], m[2], m[3], m[4], m[5]) end
    end
  end
end
return out
"""
)

#: ARGV: prefix, expire ms, at most this many queues. Pops the queues older than expire ms.
#: -> {messages expired, dst1, src1, dst2, src2, ...}: one pair per sender and queue.
EXPIRE = (
    _PRELUDE
    + """
local due = redis.call('ZRANGEBYSCORE', P .. 'qs', '-inf', now - tonumber(ARGV[2]),
                       'LIMIT', 0, tonumber(ARGV[3]))
local out = {0}
for _, dst in ipairs(due) do
  local qkey = P .. 'q:' .. dst
  local entries = redis.call('LRANGE', qkey, 0, -1)
  redis.call('DEL', qkey)
  redis.call('ZREM', P .. 'qs', dst)
  local told = {}
  for _, e in ipairs(entries) do
    local _, src, size = entry_head(e)
    uncount(src, size)
    out[1] = out[1] + 1
    if not told[src] then
      told[src] = true
      out[#out + 1] = dst
      out[#out + 1] = src
    end
  end
end
return out
"""
)

#: ARGV: prefix, incarnation, instance name, lease ms, instance ttl ms, local peers, then
#: id, owner, id, owner, ...: renews this instance and the leases of the ids it holds.
#: -> {realm peers, live instances, ids held or reserved, queued messages, queued bytes,
#:     ids whose record is gone...}
REFRESH = (
    _PRELUDE
    + """
local inst, lease, inst_ttl = ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZADD', P .. 'inst', now + inst_ttl, inst)
redis.call('HSET', P .. 'inst:' .. inst, 'name', ARGV[3], 'peers', ARGV[6])
redis.call('PEXPIRE', P .. 'inst:' .. inst, inst_ttl)
local missing = {}
for i = 7, #ARGV, 2 do
  local id, owner = ARGV[i], ARGV[i + 1]
  local key = P .. 'id:' .. id
  local cur = redis.call('HMGET', key, 'o', 'ip')
  if cur[1] == owner then
    redis.call('PEXPIRE', key, lease)
    redis.call('ZADD', P .. 'res', now + lease, id)
    redis.call('ZADD', P .. 'held', now + lease, id)
    redis.call('ZADD', P .. 'ip:' .. (cur[2] or ''), now + lease, id)
    redis.call('PEXPIRE', P .. 'ip:' .. (cur[2] or ''), lease)
  elseif not cur[1] then
    missing[#missing + 1] = id
  end
end
redis.call('ZREMRANGEBYSCORE', P .. 'inst', '-inf', now)
redis.call('ZREMRANGEBYSCORE', P .. 'held', '-inf', now)
redis.call('ZREMRANGEBYSCORE', P .. 'res', '-inf', now)
local totals = redis.call('HMGET', P .. 'qtotal', 'count', 'bytes')
local out = {redis.call('ZCARD', P .. 'held'), redis.call('ZCARD', P .. 'inst'),
             redis.call('ZCARD', P .. 'res'), tonumber(totals[1] or '0'),
             tonumber(totals[2] or '0')}
for _, id in ipairs(missing) do out[#out + 1] = id end
return out
"""
)

#: ARGV: prefix. -> ids held by a live instance.
PEERS = (
    _PRELUDE
    + """
return redis.call('ZRANGEBYSCORE', P .. 'held', now, '+inf')
"""
)

SCRIPTS = {
    "claim": CLAIM,
    "release": RELEASE,
    "route": ROUTE,
    "expire": EXPIRE,
    "refresh": REFRESH,
    "peers": PEERS,
}
