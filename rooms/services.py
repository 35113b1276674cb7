"""Room rules: joining (capacity, closed rooms), leaving, and staging player state for the tick."""

from __future__ import annotations

import time

from channels.db import database_sync_to_async
from django.db import IntegrityError

from chat.selectors import chat_latest
from rooms import broadcast, presence, protocol
from rooms.hub import hub
from rooms.models import Room
from rooms.session import PlayerSession
from signight.errors import DomainError

E = protocol.ErrorCode


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


async def _chat_history(room_id: str, recent: list[bytes] | None) -> list[bytes]:
    """The Welcome's history: from Redis, or from MongoDB (then cached) where Redis has none."""
    if recent is not None:
        return recent
    items = await database_sync_to_async(chat_latest, thread_sensitive=False)(room_id=room_id)
    encoded = [protocol.encode_item(item) for item in items]
    await presence.chat_fill(room_id, encoded)
    return encoded


async def room_join(*, session: PlayerSession, room_id: str, name: str, color: str) -> None:
    """Enter a room (leaving the current one), answer Welcome, tell the others PlayerJoined."""
    if session.room_id is not None:
        await room_leave(session=session)
    session.name = session.token_name or name
    session.color = color
    room = await _room_for_join(room_id)
    if room.is_closed:
        raise DomainError(f"room {room_id} is closed", code=E.ROOM_CLOSED)
    state = protocol.state_json(protocol.initial_state(session.name, color))
    await hub.attach(room_id, session)  # events from here on are held, then filtered by seq
    try:
        entered = await presence.player_enter(
            room_id=room_id,
            client_id=session.client_id,
            node_id=hub.node_id,
            state=state,
            max_players=room.max_players,
        )
    except BaseException:
        await hub.detach(room_id, session.client_id)
        raise
    if entered.status == "full":
        await hub.detach(room_id, session.client_id)
        raise DomainError(f"room {room_id} is full ({room.max_players} players)", code=E.ROOM_FULL)
    session.room_id, session.room_pk = room_id, room.pk
    history = await _chat_history(room_id, entered.chat)
    await session.send(
        protocol.welcome(
            client_id=session.client_id,
            room_id=room_id,
            room_state=entered.room_state,
            chat_history=history,
        )
    )
    await hub.admit(session, entered.seq)
    if entered.status == "joined":
        await broadcast.event(
            room_id,
            protocol.player_joined(session.client_id, state),
            seq=entered.seq,
            exclude=session.client_id,
        )


async def room_leave(*, session: PlayerSession) -> None:
    """Leave the current room (if any); the others get PlayerLeft. Idempotent."""
    room_id, session.room_id = session.room_id, None
    if room_id is not None:
        await hub.leave(room_id, session.client_id)


def player_update(*, session: PlayerSession, state: protocol.PlayerState) -> None:
    """Stage the latest state for the next tick (coalesced: only the last one per tick counts)."""
    if session.room_id is None:
        raise DomainError("join a room before sending updates", code=E.NOT_IN_ROOM)
    hub.stage_state(session.room_id, session.client_id, protocol.state_json(state))
