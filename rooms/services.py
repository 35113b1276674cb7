"""Room rules: connecting (one player, one socket), joining (capacity, closed rooms), leaving,
staging player state for the tick, and posting chat (stored in MongoDB by chat.writer, then kept
in the room's recent history in Redis and broadcast to the room).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from django.db import IntegrityError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_random_exponential,
)

from chat.models import ChatMessage
from chat.selectors import chat_latest
from chat.writer import QueueFull, chat_message_store, chat_message_withdraw
from rooms import broadcast, presence, protocol
from rooms.hub import hub, player_remove
from rooms.models import Room
from rooms.session import Connection, PlayerSession
from signight import metrics
from signight.errors import BACKING_SERVICE_ERRORS, DomainError

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


def _item(row: ChatMessage, room_id: str) -> protocol.ChatItem:
    return protocol.chat_item(
        id=str(row.pk),
        room_id=room_id,
        client_id=row.client_id,
        name=row.name,
        message=row.message,
        created_at=row.created_at,
    )


async def _chat_history(room_id: str, recent: list[bytes] | None) -> list[bytes]:
    """The Welcome's history: from Redis, or from MongoDB (then cached) where Redis has none."""
    if recent is not None:
        return recent
    rows = await database_sync_to_async(chat_latest, thread_sensitive=False)(
        room_id=room_id, limit=presence.CHAT_RECENT
    )
    encoded = [protocol.encode_item(_item(row, room_id)) for row in rows]
    await presence.chat_fill(room_id, encoded)
    return encoded


async def room_join(*, session: PlayerSession, room_id: str, name: str, color: str) -> None:
    """Enter a room (leaving the current one), answer Welcome, tell the others PlayerJoined."""
    await session.chats.settle()  # a chat sent before a Join belongs to the earlier room
    await room_leave(session=session)
    room = await _room_for_join(room_id)
    if room.is_closed:
        raise DomainError(f"room {room_id} is closed", code=E.ROOM_CLOSED)
    name = session.token_name or name
    state = protocol.state_json(protocol.initial_state(name, color))
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
    session.room_id, session.room_pk, session.name = room_id, room.pk, name
    history = await _chat_history(room_id, joined.chat)
    await session.send(
        protocol.welcome(
            client_id=session.client_id,
            room_id=room_id,
            room_state=joined.room_state,
            chat_history=history,
        )
    )
    await hub.welcomed(room_id, session.client_id, joined.seq)
    if joined.status is presence.JoinStatus.JOINED:
        await broadcast.event(
            room_id,
            protocol.player_joined(session.client_id, state),
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
    """Stage the latest state for the next tick (coalesced: only the last one per tick counts)."""
    room_id = session.require_room("sending updates")
    hub.stage(room_id, session.client_id, protocol.state_json(state))


# --- chat --------------------------------------------------------------------------------------

OnError = Callable[[Exception], Awaitable[None]]


def chat_post(*, session: PlayerSession, message: str, on_error: OnError) -> None:
    """Queue a chat: stored, then broadcast to the whole room, sender included (its
    acknowledgement), after this player's earlier chats and beside its Updates."""
    room_id = session.require_room("chatting")
    row = ChatMessage(
        room_id=session.room_pk,
        client_id=session.client_id,
        name=session.name or "",
        message=message,
    )

    async def post() -> None:
        try:
            await _chat_send(room_id, row)
        except Exception as exc:
            await on_error(exc)

    session.chats.submit(post)


# A stored chat is delivered within this many seconds or refused (withdrawn from MongoDB): its
# seq and its broadcast are retried through a Redis outage or stall until then, and both carry
# the deadline, so neither can take effect later (presence.chat_append, broadcast.event).
CHAT_DELIVERY_SECONDS = 5.0
# The sender counts a broadcast as delivered only if it returned this long before the deadline:
# the time for every process to receive it, and their clocks' disagreement.
CHAT_DELIVERY_MARGIN = 0.5


class _Late(Exception):
    """A step of a chat's delivery finished too near its deadline to count."""


def _unavailable() -> DomainError:
    return DomainError(
        "chat is unavailable right now; the message was not sent", code=E.CHAT_UNAVAILABLE
    )


async def _chat_send(room_id: str, row: ChatMessage) -> None:
    """Stored, then delivered: a chat is acknowledged (its echo) only when both happened; one
    that was stored but cannot be delivered in time is withdrawn from MongoDB and refused."""
    try:
        stored = await chat_message_store(row)
    except Exception as exc:
        if isinstance(exc, QueueFull):
            logger.warning("chat refused in room %s: %s", room_id, exc)
        else:
            logger.exception("chat persistence failed in room %s", room_id)
        raise _unavailable() from None
    metrics.CHAT_PERSISTED.inc()
    item = _item(stored, room_id)
    encoded = protocol.encode_item(item)
    deadline = time.time() + CHAT_DELIVERY_SECONDS
    seq = 0
    try:
        async for attempt in _delivery_attempts():
            with attempt:
                if not seq:
                    seq = await presence.chat_append(room_id, encoded, deadline=deadline)
                    if not seq:
                        raise _Late("its seq came after the deadline")
                await broadcast.event(room_id, protocol.chat(item), seq=seq, deadline=deadline)
                if time.time() > deadline - CHAT_DELIVERY_MARGIN:
                    raise _Late("its broadcast returned too near the deadline")
    except (*BACKING_SERVICE_ERRORS, _Late) as exc:
        logger.warning(
            "chat %s in room %s stored but not delivered (%s): withdrawn", item.id, room_id, exc
        )
        await _chat_withdraw(room_id, stored, encoded if seq else None)
        raise _unavailable() from None


def _delivery_attempts() -> AsyncRetrying:
    return AsyncRetrying(
        retry=retry_if_exception_type(BACKING_SERVICE_ERRORS),
        wait=wait_random_exponential(multiplier=0.1, max=1.0),
        stop=stop_after_delay(CHAT_DELIVERY_SECONDS - CHAT_DELIVERY_MARGIN),
        reraise=True,
    )


# A withdrawn chat's entry in the room's recent history is removed in the background, retried
# this long while Redis is unreachable (a Welcome must not show a chat nobody was sent).
CHAT_WITHDRAW_SECONDS = 60.0
_withdrawals: set[asyncio.Task[None]] = set()


async def _chat_withdraw(room_id: str, stored: ChatMessage, encoded: bytes | None) -> None:
    try:
        await chat_message_withdraw(stored)
    except BACKING_SERVICE_ERRORS:
        logger.exception("withdrawing undelivered chat %s in room %s failed", stored.pk, room_id)
    if encoded is not None:
        task = asyncio.create_task(_recent_withdraw(room_id, encoded))
        _withdrawals.add(task)
        task.add_done_callback(_withdrawals.discard)


async def _recent_withdraw(room_id: str, encoded: bytes) -> None:
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(BACKING_SERVICE_ERRORS),
            wait=wait_random_exponential(multiplier=0.5, max=5.0),
            stop=stop_after_delay(CHAT_WITHDRAW_SECONDS),
            reraise=True,
        ):
            with attempt:
                await presence.chat_withdraw(room_id, encoded)
    except BACKING_SERVICE_ERRORS:
        logger.exception("an undelivered chat stays in room %s's recent history", room_id)
