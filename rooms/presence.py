"""Live room state in Redis: who is in which room, on which node, and their latest state.

Keys (all under "sn:"):
  room:<id>:players  HASH client_id -> owner            (membership; its length is the count)
  room:<id>:states   HASH client_id -> state JSON        (latest state, written once per tick)
  room:<id>:nodes    HASH node_id -> local player count  (which processes hold the room)
  room:<id>:seq      INTEGER                             (sequence of the room's events)
  room:<id>:events   ZSET frame -> seq                   (the room's latest RESUME_HISTORY
                     events, as sent, for a Resume; expires a while after the last one)
  room:<id>:meta     HASH epoch, floor                   (the seq's first number, changed when
                     the seq was lost; the newest seq no longer in `events`)
  room:<id>:chat     LIST of Chat items (JSON), latest CHAT_RECENT (Welcome's history; kept
                     7 days; MongoDB stays the record and fills it when missing)
  rooms              ZSET room_id -> player count        (active rooms, for GET /rooms)
  node:<id>          STRING channel name, with a TTL     (heartbeat of a live server process)
  nodes              HASH node_id -> channel name        (every registered process)
  epoch              STRING                              (one per Redis dataset: node_register)
  node:<id>:clients  HASH client_id -> room_id           (what to clean up if that process dies)
  player:<id>        STRING owner, 1 day                 (which connection plays a token's player)
  resume:<client>    STRING session id, 1 day            (the session a valid resume token
                     names: a newer Join or Resume replaces it, a Leave spends it as "-")
  away               ZSET "<room>|<client>" -> deadline  (players whose socket ended without a
                     Leave, ms: they stay in their room until then, unless they resume)
  chatseq:<item id>  STRING seq, 10 min                  (a chat appended twice keeps one seq)
  chatref:<client>:<ref>  STRING "pending" (30 s), then "<seq>|<chat item>" (10 min): a Chat's
                     `id`, so a retry with the same id is stored once and answered again
An owner is "<node_id>/<connection id>": one connection of one process, or "~": away. A
player is in one
place cluster-wide: a newer connection claims it (player_claim) and takes its room entry over
at its Join; removing a player is conditional on its owner (or, for the reaper, its node), so
an older copy's leave, drain or reaping never removes the newer copy.
Joins, resumes, going away and leaves are Lua scripts (rooms.scripts), so counts, limits and the
event log stay exact across processes; their answers are small result types (Joined,
Resumption, Departure), never bare ints or strings.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aredis
from django.conf import settings
from redis.exceptions import NoScriptError
from redis.typing import EncodableT

from rooms import protocol, scripts
from rooms.protocol import Draft
from signight.redis import get_async, get_sync

PREFIX = "sn:"
ROOMS_KEY = PREFIX + "rooms"
AWAY_KEY = PREFIX + "away"
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
RESUME_KEY_SECONDS = 24 * 3600  # a resume token is good for a day (rooms.tokens)


def _resume(client_id: str) -> str:
    return f"{PREFIX}resume:{client_id}"


_JOIN = scripts.with_prefix(scripts.JOIN, PREFIX)
_RESUME = scripts.with_prefix(scripts.RESUME, PREFIX)
_AWAY = scripts.with_prefix(scripts.AWAY_SCRIPT, PREFIX)
_RESTORE_AWAY = scripts.with_prefix(scripts.RESTORE_AWAY, PREFIX)
_LEAVE = scripts.with_prefix(scripts.LEAVE, PREFIX)
_CHAT = scripts.with_prefix(scripts.CHAT, PREFIX)


CHAT_RECENT = 50  # a Welcome's chat history: the room's latest messages
CHAT_KEEP_SECONDS = 7 * 24 * 3600
CHAT_REF_SECONDS = 600  # a Chat's `id` is its idempotency key this long
CHAT_REF_PENDING_SECONDS = 30  # a claimed `id` being stored (<= 5 s) and delivered (5 s)
_SEEDED = b""  # the marker item chat_fill puts first; readers skip it


# A half-open socket is found dead by the WebSocket keepalive (ping 20 s + timeout 20 s) at the
# latest; the events sent into it meanwhile are missed too.
LOG_MARGIN_SECONDS = 60


def _log_terms() -> list[EncodableT]:
    """How many events a room keeps for resume, and how long its log outlives its last event:
    long enough for any player that can still resume (a socket found dead by the keepalive, or
    reaped after PRESENCE_TTL_SECONDS, then the grace). An expired log is never read as empty:
    a Resume with a gap then is not recovered."""
    ttl = settings.RESUME_GRACE_SECONDS + settings.PRESENCE_TTL_SECONDS + LOG_MARGIN_SECONDS
    return [settings.RESUME_HISTORY, ttl]


class JoinStatus(enum.Enum):
    JOINED = 1
    REJOINED = 0  # was already in the room (same client_id, or away): its state was refreshed
    FULL = -1
    RESUMED = 3  # Resume: back in the room, as it was (it was away, or held by a dead socket)
    SUPERSEDED = -2  # Resume: a newer session of the player exists (the token is spent)
    PRESENT = 2  # re-add only: held by another connection


@dataclass(frozen=True, slots=True)
class Joined:
    status: JoinStatus
    seq: int  # the room's event sequence number as of the snapshot (PlayerJoined's number)
    room_state: list[tuple[str, bytes]]
    chat: list[bytes] | None = None  # latest chat items, oldest first; None: not in Redis
    epoch: str = ""  # the room's event epoch (a resume token carries it)


@dataclass(frozen=True, slots=True)
class Resumption(Joined):
    """A Resume's answer: `missed` (recovered) holds the room's event frames after last_seq;
    `previous` names the connection it was taken from (a socket not yet known to be dead)."""

    recovered: bool = False
    missed: list[bytes] | None = None
    previous: str | None = None


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


def _room_keys(room_id: str, node_id: str, client_id: str) -> list[str]:
    """The twelve keys of a room script, in rooms.scripts' order."""
    return [
        _room(room_id, "players"),
        _room(room_id, "states"),
        _room(room_id, "nodes"),
        ROOMS_KEY,
        _node_clients(node_id),
        _room(room_id, "seq"),
        _room(room_id, "chat"),
        _room(room_id, "events"),
        _room(room_id, "meta"),
        AWAY_KEY,
        _resume(client_id),
        _room(room_id, "left"),
    ]


def owner(node_id: str, connection_id: str) -> str:
    return f"{node_id}/{connection_id}"


def _pairs(flat: list[Any]) -> list[tuple[str, bytes]]:
    return [(_text(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2)]


async def player_claim(client_id: str, owner: str) -> str | None:
    """A connection claims its token's player; returns the previous owner, if any."""
    previous = await get_async().set(_player(client_id), owner, ex=PLAYER_CLAIM_SECONDS, get=True)
    return _text(previous) if isinstance(previous, bytes | str) else None


async def player_unclaim(client_id: str, owner: str) -> None:
    """The claim ends with its connection, unless a newer one has claimed the player since."""
    await _script(get_async(), scripts.UNCLAIM, [_player(client_id)], [owner])


async def player_join(
    *,
    room_id: str,
    client_id: str,
    owner: str,
    state: bytes,
    max_players: int,
    sid: str = "",
    logged: bool = True,
) -> Joined:
    """Add a player to a room unless it is full; returns every player's state, joiner included.
    A player already in the room under another owner, or away, is taken over by this one
    (REJOINED; also when this owner holds it already: the same join run twice). `sid` is the
    session its resume token names. Its PlayerJoined is logged as protocol.player_joined(room_id,
    seq, client_id, state) makes it, unless not `logged` (the others know it: hub.heal)."""
    node_id = owner.partition("/")[0]
    draft = protocol.player_joined_draft(room_id, client_id, state)
    reply = await _script(
        get_async(),
        _JOIN,
        _room_keys(room_id, node_id, client_id),
        [
            client_id,
            owner,
            state,
            max_players,
            room_id,
            node_id,
            sid,
            draft.head if logged else "",
            *_log_terms(),
            RESUME_KEY_SECONDS,
        ],
    )
    status, seq, cached, chat, flat, epoch = reply
    recent = [item for item in chat if item != _SEEDED] if cached else None
    return Joined(JoinStatus(int(status)), int(seq), _pairs(flat), recent, _text(epoch or b""))


async def player_resume(
    *,
    room_id: str,
    client_id: str,
    owner: str,
    token_sid: str,
    sid: str,
    last_seq: int,
    epoch: str,
    state: bytes,
    max_players: int,
    readd: bool = False,
) -> Resumption:
    """Back into the room that a resume token (session `token_sid`, epoch `epoch`) names, as
    session `sid`: RESUMED if it was away or held by another connection (`previous`), with the
    events after `last_seq` if all are kept (recovered); JOINED anew at `state` (its
    PlayerJoined logged) if it had left; FULL; SUPERSEDED if a newer session exists. `readd`
    (reconcile: a connected player Redis lost) takes nothing from another connection
    (PRESENT)."""
    node_id = owner.partition("/")[0]
    draft = protocol.player_joined_draft(room_id, client_id, state)
    args: list[EncodableT] = [
        client_id, token_sid, sid, owner, room_id, node_id, max_players, last_seq, epoch,
        state, draft.head, *_log_terms(), RESUME_KEY_SECONDS, "readd" if readd else "resume",
    ]  # fmt: skip
    keys = _room_keys(room_id, node_id, client_id) + ([_player(client_id)] if readd else [])
    reply = await _script(get_async(), _RESUME, keys, args)
    status, seq, recovered, missed, cached, chat, flat, previous, current_epoch = reply
    return Resumption(
        JoinStatus(int(status)),
        int(seq),
        _pairs(flat),
        [item for item in chat if item != _SEEDED] if cached else None,
        _text(current_epoch or b""),
        recovered=bool(recovered),
        missed=list(missed) if recovered else None,
        previous=_text(previous) or None,
    )


async def player_away(
    *,
    room_id: str,
    client_id: str,
    deadline: float,
    owner: str | None = None,
    node_id: str | None = None,
) -> bytes | None:
    """The socket of a player that `owner` (or, reaping, any connection of `node_id`) holds
    ended without a Leave: it stays in the room, held by no process, until `deadline` (Unix
    seconds) unless it resumes. Its latest state in Redis if it went away, else None."""
    if (owner is None) == (node_id is None):
        raise ValueError("player_away needs exactly one of owner and node_id")
    holder, by_node = (node_id, "1") if node_id is not None else (owner, "0")
    assert holder is not None
    keys = [
        _room(room_id, "players"),
        _room(room_id, "nodes"),
        _node_clients(holder.partition("/")[0]),
        AWAY_KEY,
        _room(room_id, "states"),
    ]
    args: list[EncodableT] = [client_id, holder, by_node, int(deadline * 1000), room_id]
    went, state = await _script(get_async(), _AWAY, keys, args)
    return bytes(state) if int(went) else None


async def player_restore_away(
    *, room_id: str, client_id: str, state: bytes, deadline: float
) -> bool:
    """Redis lost its data while this player was away (its socket ended on this process): away
    again until `deadline` (Unix seconds), unless the room has it already. True if put back."""
    keys = [_room(room_id, "players"), _room(room_id, "states"), ROOMS_KEY, AWAY_KEY]
    args: list[EncodableT] = [client_id, state, int(deadline * 1000), room_id]
    return bool(await _script(get_async(), _RESTORE_AWAY, keys, args))


async def away_due(now: float, *, limit: int = 200) -> list[tuple[str, str]]:
    """(room_id, client_id) of away players whose grace ended before `now` (Unix seconds)."""
    due = cast(
        "list[bytes]",
        await get_async().zrangebyscore(AWAY_KEY, "-inf", int(now * 1000), start=0, num=limit),
    )
    pairs = [_text(item).partition("|") for item in due]
    return [(room_id, client_id) for room_id, _, client_id in pairs]


async def events_after(room_id: str, seq: int) -> list[tuple[int, bytes]]:
    """The room's logged events numbered above `seq`: (seq, frame), in order."""
    rows, _ = await events_since(room_id, seq)
    return rows


async def events_since(room_id: str, seq: int) -> tuple[list[tuple[int, bytes]], int]:
    """The room's logged events numbered above `seq` ((seq, frame), in order), and the room's
    newest number, read at once: every event up to that number is among them, or was
    withdrawn."""
    async with get_async().pipeline(transaction=True) as pipe:
        pipe.zrangebyscore(_room(room_id, "events"), f"({seq}", "+inf", withscores=True)
        pipe.get(_room(room_id, "seq"))
        rows, newest = await pipe.execute()
    return [(int(score), frame) for frame, score in rows], int(newest or 0)


async def event_numbers(room_ids: Sequence[str]) -> list[int | None]:
    """Each room's newest event number (None: the room has no keys), in one round trip."""
    if not room_ids:
        return []
    values = await get_async().mget([_room(room_id, "seq") for room_id in room_ids])
    return [int(value) if value is not None else None for value in values]


async def player_leave(
    *,
    room_id: str,
    client_id: str,
    owner: str | None = None,
    node_id: str | None = None,
    away: bool = False,
) -> Departure:
    """Remove a player from a room if `owner` (one connection: its resume token is spent too),
    `node_id` (any connection of that process) or nobody (`away`: its grace is over) holds it
    there; idempotent. Its PlayerLeft is logged as protocol.player_left makes it."""
    draft = protocol.player_left_draft(room_id, client_id)
    if sum((owner is not None, node_id is not None, away)) != 1:
        raise ValueError("player_leave needs exactly one of owner, node_id and away")
    if owner is not None:
        holder, how = owner, "owner"
    elif node_id is not None:
        holder, how = node_id, "node"
    else:
        holder, how = "", "away"
    keys = _room_keys(room_id, holder.partition("/")[0] or "-", client_id)
    args: list[EncodableT] = [client_id, room_id, holder, how, draft.head, *_log_terms()]
    args += ["1" if how == "owner" else "0", RESUME_KEY_SECONDS, LEFT_KEEP_SECONDS]
    reply = int(await _script(get_async(), _LEAVE, keys, args))
    if reply == 0:
        return Departure(LeaveStatus.ABSENT)
    if reply < 0:
        return Departure(LeaveStatus.EMPTIED)
    return Departure(LeaveStatus.LEFT, reply)


async def chat_append(
    room_id: str,
    item_id: str,
    item: bytes,
    *,
    draft: Draft,
    deadline: float,
    client_id: str = "",
    ref: str | None = None,
) -> int:
    """Add a stored chat message to the room's recent history and event log (`draft`: its Chat
    frame); returns its event seq (the same for the same `item_id`, however often it runs), or
    0 if Redis ran this after `deadline` (Unix seconds) and did nothing. With the Chat's `ref`
    (claimed by chat_ref_claim for `client_id`), the seq and the item are kept for a retry of
    the same Chat."""
    keys = [
        _room(room_id, "chat"),
        _room(room_id, "seq"),
        f"{PREFIX}chatseq:{item_id}",
        _room(room_id, "events"),
        _room(room_id, "meta"),
    ]
    if ref is not None:
        keys.append(_chat_ref_key(client_id, ref))
    args: list[EncodableT] = [item, CHAT_KEEP_SECONDS, int(deadline * 1_000_000), draft.head]
    args += [*_log_terms(), CHAT_RECENT, CHAT_REF_SECONDS]
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
    previous = await _script(get_async(), scripts.CLAIM_REF, keys, [CHAT_REF_PENDING_SECONDS])
    if previous is None:
        return None
    seq, sep, item = bytes(previous).partition(b"|")
    return ChatRef(int(seq), item) if sep else ChatRef(0, b"")


async def chat_ref_release(client_id: str, ref: str) -> None:
    """A claimed `id` whose chat was refused: a retry may send it again."""
    await _script(get_async(), scripts.RELEASE_REF, [_chat_ref_key(client_id, ref)], [])


async def chat_withdraw(room_id: str, item: bytes, seq: int = 0) -> None:
    """Take a chat that was never delivered out of the room's recent history (and, numbered
    `seq`, out of its event log: a resume does not bring it either)."""
    async with get_async().pipeline(transaction=False) as pipe:
        pipe.lrem(_room(room_id, "chat"), 0, item)  # type: ignore[arg-type]
        if seq:
            pipe.zremrangebyscore(_room(room_id, "events"), seq, seq)
        await pipe.execute()


async def chat_redact(room_id: str, message_id: str) -> int:
    """Take a chat message out of the room's recent history and its event log; returns the
    number its Chat frame had (0 if the log no longer kept it)."""
    keys = [_room(room_id, "chat"), _room(room_id, "events")]
    seq = await _script(get_async(), scripts.CHAT_REDACT, keys, [message_id])
    return int(seq or 0)


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
        sha = await _sha(client, scripts.STORE, reload=attempt == 2)
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


def room_players(room_id: str) -> list[tuple[str, str, str | None]]:
    """(client_id, name, node id or None if away) of a room's players (sync: the admin's live
    rooms page)."""
    client = get_sync()
    with client.pipeline(transaction=True) as pipe:
        pipe.hgetall(_room(room_id, "players"))
        pipe.hgetall(_room(room_id, "states"))
        owners, states = pipe.execute()
    players = []
    for raw_client, raw_owner in sorted(owners.items()):
        owner = _text(raw_owner)
        node = None if owner == scripts.AWAY else owner.partition("/")[0]
        state = states.get(raw_client)
        try:
            name = protocol.decode_state(state).name if state else ""
        except ValueError:
            name = ""
        players.append((_text(raw_client), name or "", node))
    return players


# "Was in the room within the last hour" (CHAT_HISTORY_ACCESS=member): the LEAVE script keeps
# when each player left a room this long.
LEFT_KEEP_SECONDS = 3600


def player_in_room_lately(room_id: str, client_id: str) -> bool:
    """In the room now (away included), or left it within LEFT_KEEP_SECONDS (sync: the API)."""
    client = get_sync()
    with client.pipeline(transaction=False) as pipe:
        pipe.hexists(_room(room_id, "players"), client_id)
        pipe.zscore(_room(room_id, "left"), client_id)
        present, left_at = pipe.execute()
    return bool(present) or (left_at is not None and left_at > time.time() - LEFT_KEEP_SECONDS)


def chat_recent(room_id: str) -> list[dict[str, Any]]:
    """A room's recent chat items in Redis, oldest first (sync: the admin's live rooms page)."""
    items = cast("list[bytes]", get_sync().lrange(_room(room_id, "chat"), 0, -1))
    return [json.loads(item) for item in items if item != _SEEDED]
