-- The chat cluster's state changes, each one atomic: Redis runs a script to
-- its end before any other command, so a check and the write it allows (a
-- name free, then taken) can never be split by another node.
--
-- Called as EVALSHA <sha> 0 <op> <args...>; see script.rs for each op's
-- arguments and replies, and mod.rs for the keys. Every reply is a table
-- whose first element is a status word: 'ok', an ERR code of the protocol
-- ('not-in-room'…), or 'lost' (this node's lease is gone).
--
-- Keys are not declared in KEYS: this is for one Redis (or one primary with
-- replicas), not Redis Cluster, where a chat's keys would have to share a slot.

local P = 'chat:'
local EVENTS_MAX = 100000 -- the events stream's length, approximately (MAXLEN ~)
local DM_MAX = 10000 -- each node's DM stream's length, approximately
local op = ARGV[1]

local function alive(token)
  return redis.call('EXISTS', P .. 'node:' .. token) == 1
end

-- A session id is '<node token>.<number>'.
local function token_of(sid)
  return string.match(sid, '^([0-9a-f]+)%.%d+$')
end

-- Appends one event to the cluster's one order, numbered without gaps so a
-- reader can tell when entries it had not read were trimmed.
local function event(...)
  local n = redis.call('INCR', P .. 'events:n')
  return redis.call('XADD', P .. 'events', 'MAXLEN', '~', EVENTS_MAX, '*', 'n', n, ...)
end

-- Takes user f out of room k; an empty room is gone, and so is its spelling
-- if it has no history to keep it.
local function leave_room(k, f)
  redis.call('HDEL', P .. 'members:' .. k, f)
  redis.call('SREM', P .. 'urooms:' .. f, k)
  if redis.call('HLEN', P .. 'members:' .. k) == 0 then
    redis.call('SREM', P .. 'rooms', k)
    if redis.call('EXISTS', P .. 'hist:' .. k) == 0 then
      redis.call('DEL', P .. 'roomname:' .. k)
    end
  end
end

-- The user f of session sid leaves: every room, its name, once; announced
-- (why: 'k' when its name was taken over by AUTH, so its node says so).
local function release(f, sid, why)
  local token = token_of(sid)
  local display = redis.call('HGET', P .. 'users:' .. token, f) or f
  for _, k in ipairs(redis.call('SMEMBERS', P .. 'urooms:' .. f)) do
    leave_room(k, f)
  end
  redis.call('DEL', P .. 'urooms:' .. f, P .. 'name:' .. f)
  redis.call('HDEL', P .. 'users:' .. token, f)
  redis.call('HDEL', P .. 'ops:' .. token, sid)
  if why then
    return event('t', 'd', 'u', display, 's', sid, 'w', why)
  end
  return event('t', 'd', 'u', display, 's', sid)
end

-- A node that is gone (dead, or leaving): every user it had leaves, once.
local function reap(token)
  local users = redis.call('HKEYS', P .. 'users:' .. token)
  for _, f in ipairs(users) do
    local sid = redis.call('GET', P .. 'name:' .. f)
    if sid and token_of(sid) == token then
      release(f, sid)
    end
  end
  redis.call('DEL', P .. 'users:' .. token, P .. 'ops:' .. token, P .. 'dm:' .. token,
    P .. 'node:' .. token)
  redis.call('SREM', P .. 'nodes', token)
  return #users
end

if op == 'hello' then -- token ttl_ms → {'ok', last event id, last event number}
  local token, ttl = ARGV[2], ARGV[3]
  redis.call('SADD', P .. 'nodes', token)
  redis.call('SET', P .. 'node:' .. token, '1', 'PX', ttl)
  local last = redis.call('XREVRANGE', P .. 'events', '+', '-', 'COUNT', 1)
  local n = redis.call('GET', P .. 'events:n') or '0'
  if #last == 0 then
    return { 'ok', '0-0', n }
  end
  return { 'ok', last[1][1], n }
end

if op == 'renew' then -- token ttl_ms → {'ok'|'resumed'|'lost', users reaped}
  local token, ttl = ARGV[2], ARGV[3]
  if redis.call('PEXPIRE', P .. 'node:' .. token, ttl) == 0 then
    if redis.call('SISMEMBER', P .. 'nodes', token) == 0 then
      return { 'lost', 0 }
    end
    -- Expired but not reaped yet (Redis was away longer than the lease):
    -- nobody was told this node died, so it carries on. It reaps nobody
    -- this time: the others' leases may have run out the same way.
    redis.call('SET', P .. 'node:' .. token, '1', 'PX', ttl)
    return { 'resumed', 0 }
  end
  local reaped = 0
  for _, other in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
    if not alive(other) then
      reaped = reaped + reap(other)
    end
  end
  return { 'ok', reaped }
end

if op == 'exit' then -- token → {'ok', users released}
  return { 'ok', reap(ARGV[2]) }
end

if op == 'release' then -- sid f → {'ok', event id} | {'gone'}
  local sid, f = ARGV[2], ARGV[3]
  if redis.call('GET', P .. 'name:' .. f) ~= sid then
    return { 'gone' }
  end
  return { 'ok', release(f, sid) }
end

if op == 'who' then -- room key → {'ok', {names}} | {'no-such-room'}
  local k = ARGV[2]
  local names = {}
  if k == '#lobby' then
    for _, token in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
      for _, name in ipairs(redis.call('HVALS', P .. 'users:' .. token)) do
        names[#names + 1] = name
      end
    end
    return { 'ok', names }
  end
  if redis.call('EXISTS', P .. 'members:' .. k) == 0 then
    return { 'no-such-room' }
  end
  return { 'ok', redis.call('HVALS', P .. 'members:' .. k) }
end

if op == 'rooms' then -- → {'ok', {room, members, room, members, ...}}, the lobby first
  local users = 0
  for _, token in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
    users = users + redis.call('HLEN', P .. 'users:' .. token)
  end
  local out = { '#lobby', users }
  for _, k in ipairs(redis.call('SMEMBERS', P .. 'rooms')) do
    out[#out + 1] = redis.call('GET', P .. 'roomname:' .. k) or k
    out[#out + 1] = redis.call('HLEN', P .. 'members:' .. k)
  end
  return { 'ok', out }
end

if op == 'history' then -- room key, count → {'ok', spelling or false, entries newest first}
  local k, count = ARGV[2], ARGV[3]
  local spelling = '#lobby'
  if k ~= '#lobby' then
    spelling = redis.call('GET', P .. 'roomname:' .. k)
  end
  return { 'ok', spelling, redis.call('XREVRANGE', P .. 'hist:' .. k, '+', '-', 'COUNT', count) }
end

if op == 'account' then -- f → {'ok', password record or false}
  return { 'ok', redis.call('HGET', P .. 'accounts', ARGV[2]) }
end

-- Everything below acts for one session: sid f display opnum, then the op's
-- own arguments. The session must still hold its name (a session whose node
-- lost its lease, or that was dropped, cannot act in the name of whoever
-- holds it next). An op number already done (a retry after a lost reply)
-- answers as it did, without doing it twice.
local sid, f, display, opnum = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local token = token_of(sid)
if not token then
  return redis.error_reply('ERR bad session id')
end

-- login → {'ok', event id} | {'name-reserved'} | {'username-taken'} | {'lost'}
-- takeover (AUTH), the password record the caller verified → {'ok', event id}
--   | {'not-registered'} | {'wrong-password'} (changed since) | {'lost'}:
--   the name's holder on a live node is released first ('k': taken over).
if op == 'login' or op == 'takeover' then
  if not alive(token) then
    return { 'lost' }
  end
  local holder = redis.call('GET', P .. 'name:' .. f)
  if holder == sid then
    return { 'ok', string.match(redis.call('HGET', P .. 'ops:' .. token, sid) or '', ' (.*)$') or '' }
  end
  local record = redis.call('HGET', P .. 'accounts', f)
  if op == 'login' and record then
    return { 'name-reserved' }
  end
  if op == 'takeover' and not record then
    return { 'not-registered' }
  end
  if op == 'takeover' and record ~= ARGV[6] then
    return { 'wrong-password' }
  end
  if holder then
    local owner = token_of(holder)
    if owner and alive(owner) then
      if op == 'login' then
        return { 'username-taken' }
      end
      -- AUTH takes the name from its live holder: that departure first.
      release(f, holder, 'k')
    else
      -- Held by a node whose lease ran out: it is reaped now (its users'
      -- departures come first in the order), then the name is free.
      if owner then
        reap(owner)
      end
      redis.call('DEL', P .. 'name:' .. f)
    end
  end
  redis.call('SET', P .. 'name:' .. f, sid)
  redis.call('HSET', P .. 'users:' .. token, f, display)
  local id = event('t', 'c', 'u', display, 's', sid)
  redis.call('HSET', P .. 'ops:' .. token, sid, opnum .. ' ' .. id)
  return { 'ok', id }
end

if redis.call('GET', P .. 'name:' .. f) ~= sid then
  return { 'not-logged-in' }
end
local done = redis.call('HGET', P .. 'ops:' .. token, sid)
if done then
  local n, id = string.match(done, '^(%d+) (.*)$')
  if n and tonumber(n) >= opnum then
    return { 'ok', id }
  end
end

local function did(id)
  redis.call('HSET', P .. 'ops:' .. token, sid, opnum .. ' ' .. id)
  return { 'ok', id }
end

if op == 'say' then -- room key, text, keep → {'ok', event id} | {'not-in-room'}
  local k, text, keep = ARGV[6], ARGV[7], ARGV[8]
  local spelling = '#lobby'
  if k ~= '#lobby' then
    if redis.call('HEXISTS', P .. 'members:' .. k, f) == 0 then
      return { 'not-in-room' }
    end
    spelling = redis.call('GET', P .. 'roomname:' .. k) or k
  end
  local seq = redis.call('INCR', P .. 'seq:' .. k)
  redis.call('XADD', P .. 'hist:' .. k, 'MAXLEN', '~', keep, '*', 's', seq, 'u', display, 'x', text)
  return did(event('t', 'm', 'r', spelling, 'u', display, 'x', text))
end

if op == 'join' then -- room key, spelling, max per user, max rooms → {'ok', event id} | {code}
  local k, spelling = ARGV[6], ARGV[7]
  if redis.call('HEXISTS', P .. 'members:' .. k, f) == 1 then
    return { 'already-in-room' }
  end
  if redis.call('SCARD', P .. 'urooms:' .. f) >= tonumber(ARGV[8]) then
    return { 'too-many-rooms' }
  end
  if redis.call('SISMEMBER', P .. 'rooms', k) == 0
      and redis.call('SCARD', P .. 'rooms') >= tonumber(ARGV[9]) then
    return { 'too-many-rooms' }
  end
  -- A room shows as first spelled, also when it comes back.
  redis.call('SET', P .. 'roomname:' .. k, spelling, 'NX')
  spelling = redis.call('GET', P .. 'roomname:' .. k)
  redis.call('HSET', P .. 'members:' .. k, f, display)
  redis.call('SADD', P .. 'urooms:' .. f, k)
  redis.call('SADD', P .. 'rooms', k)
  -- The joiner's replay ends at the room's last message now: what comes
  -- after it comes live, after the JOIN line, in order.
  local last = redis.call('XREVRANGE', P .. 'hist:' .. k, '+', '-', 'COUNT', 1)
  local upto = ''
  if #last > 0 then
    upto = last[1][1]
  end
  return did(event('t', 'j', 'r', spelling, 'u', display, 's', sid, 'h', upto))
end

if op == 'part' then -- room key → {'ok', event id} | {'not-in-room'}
  local k = ARGV[6]
  if redis.call('HEXISTS', P .. 'members:' .. k, f) == 0 then
    return { 'not-in-room' }
  end
  local spelling = redis.call('GET', P .. 'roomname:' .. k) or k
  local id = event('t', 'p', 'r', spelling, 'u', display, 's', sid)
  leave_room(k, f)
  return did(id)
end

-- A registration only where there is none; a new password only where
-- there is one. The record is made (hashed) by the caller.
if op == 'register' then -- password record → {'ok', ''} | {'already-registered'}
  if redis.call('HSETNX', P .. 'accounts', f, ARGV[6]) == 0 then
    return { 'already-registered' }
  end
  return did('')
end

if op == 'password' then -- password record → {'ok', ''} | {'not-registered'}
  if redis.call('HEXISTS', P .. 'accounts', f) == 0 then
    return { 'not-registered' }
  end
  redis.call('HSET', P .. 'accounts', f, ARGV[6])
  return did('')
end

if op == 'dm' then -- recipient (folded), text → {'ok', ''} | {'user-not-found'}
  local to, text = ARGV[6], ARGV[7]
  local holder = redis.call('GET', P .. 'name:' .. to)
  local owner = holder and token_of(holder)
  if not owner or not alive(owner) then
    return { 'user-not-found' }
  end
  redis.call('XADD', P .. 'dm:' .. owner, 'MAXLEN', '~', DM_MAX, '*', 't', to, 'u', display, 'x', text)
  return did('')
end

return redis.error_reply('ERR unknown chat op ' .. tostring(op))
