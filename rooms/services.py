"""Room rules: connecting (one player, one socket), joining (capacity, closed rooms), leaving,
and staging player state for the tick. Chat is rooms.chatting's.
"""

from __future__ import annotations

import logging
import time

from channels.db import database_sync_to_async
from django.db import IntegrityError

from rooms import broadcast, chatting, presence, protocol
from rooms.hub import hub, player_remove
from rooms.models import Room
from rooms.session import Connection, PlayerSession
from signight.errors import DomainError

logger = logging.getLogger(__name__)
E = protocol.ErrorCode

# --- connections -------------------------------------------------------------------------------


async def connection_open(connection: Connection) -> None:
    """Register a socket with this process's hub. One player, one place, cluster-wide: an older
    connection of the same player (same token subject) is closed with 4410 — on this process
    at once, leaving its room first so this one can join as the same client_id; on another
    process through the channel layer, and its leave removes nothing this one holds."""
    session = connection.session
    for older in hub.connections_of(session.client_id, besides=connection):
        await older.close_with(protocol.CloseCode.REPLACED, "replaced by a newer connection")
        await session_end(older.session)
    hub.register(connection)
    await hub.ensure_started()
    if session.authenticated:
        previous = await presence.player_claim(session.client_id, hub.owner(session))
        node_id, _, connection_id = (previous or "").partition("/")
        if previous is not None and node_id != hub.node_id:
            await hub.nodes.send_replace(
                node_id, client_id=session.client_id, connection_id=connection_id
            )


async def connection_close(connection: Connection) -> None:
    """The socket is gone: its accepted chats are stored and sent, then it leaves its room."""
    try:
        await session_end(connection.session)
    finally:
        hub.unregister(connection)


async def session_end(session: PlayerSession) -> None:
    """Idempotent: no more frames to this session, and out of its room."""
    await session.chats.settle()
    session.outbox.close()
    await room_leave(session=session)
    if session.authenticated:
        await presence.player_unclaim(session.client_id, hub.owner(session))


# --- rooms -------------------------------------------------------------------------------------


def room_get_or_create(*, room_id: str) -> Room:
    try:
        room, _ = Room.objects.get_or_create(room_id=room_id)
    except IntegrityError:  # another process created it first: the unique index decided
        room = Room.objects.get(room_id=room_id)
    return room


# Joins read the room record often and operators change it rarely: keep it a few seconds
# (a room closed in the admin refuses joins within ROOM_CACHE_SECONDS).
ROOM_CACHE_SECONDS = 2.0
_rooms: dict[str, tuple[float, Room]] = {}


async def _room_for_join(room_id: str) -> Room:
    now = time.monotonic()
    cached = _rooms.get(room_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    # Not thread-sensitive: concurrent joins may use several threads (one connection each).
    room = await database_sync_to_async(room_get_or_create, thread_sensitive=False)(room_id=room_id)
    if len(_rooms) > 10_000:
        _rooms.clear()
    _rooms[room_id] = (now + ROOM_CACHE_SECONDS, room)
    return room


async def room_join(
    *,
    session: PlayerSession,
    room_id: str,
    name: str,
    color: str,
    spawn: protocol.PlayerState | None = None,
) -> None:
    """Enter a room (leaving the current one), answer Welcome, tell the others PlayerJoined
    (where `spawn` puts the player, else at the origin)."""
    await session.chats.settle()  # a chat sent before a Join belongs to the earlier room
    await room_leave(session=session)
    room = await _room_for_join(room_id)
    if room.is_closed:
        raise DomainError(f"room {room_id} is closed", code=E.ROOM_CLOSED)
    name = session.token_name or name
    initial = protocol.initial_state(name, color, spawn)
    state = protocol.state_json(initial)
    await hub.join(room_id, session, state)  # events from here on are held, filtered by seq
    try:
        joined = await presence.player_join(
            room_id=room_id,
            client_id=session.client_id,
            owner=hub.owner(session),
            state=state,
            max_players=room.max_players,
        )
    except BaseException:
        await hub.leave(room_id, session.client_id)
        raise
    if joined.status is presence.JoinStatus.FULL:
        await hub.leave(room_id, session.client_id)
        raise DomainError(f"room {room_id} is full ({room.max_players} players)", code=E.ROOM_FULL)
    session.room_id, session.room_pk = room_id, room.pk
    session.name, session.color = name, initial.color or color
    history = await chatting.chat_history(room_id, joined.chat)
    await session.send(
        protocol.welcome(
            client_id=session.client_id,
            room_id=room_id,
            seq=joined.seq,
            room_state=joined.room_state,
            chat_history=history,
            max_players=room.max_players,
        )
    )
    await hub.welcomed(room_id, session.client_id, joined.seq)
    if joined.status is presence.JoinStatus.JOINED:
        await broadcast.event(
            room_id,
            protocol.player_joined(room_id, joined.seq, session.client_id, state),
            seq=joined.seq,
            exclude=session.client_id,
        )


async def room_leave(*, session: PlayerSession) -> None:
    """Leave the current room (if any); the others get PlayerLeft. Idempotent."""
    room_id, session.room_id = session.room_id, None
    if room_id is not None:
        await hub.leave(room_id, session.client_id)
        await player_remove(room_id, session.client_id, owner=hub.owner(session))


async def room_leave_requested(*, session: PlayerSession) -> None:
    """A Leave message: like room_leave, but not being in a room is the client's error."""
    session.require_room("leaving")
    await session.chats.settle()
    await room_leave(session=session)


def player_update(*, session: PlayerSession, state: protocol.PlayerState) -> None:
    """Stage the latest state for the next tick (coalesced: only the last one per tick counts).
    The name is the joined one whatever the Update says; a colour it names is kept."""
    room_id = session.require_room("sending updates")
    state.name = session.name
    if state.color is None:
        state.color = session.color
    else:
        session.color = state.color
    hub.stage(room_id, session.client_id, protocol.state_json(state))
