"""Room rules: connecting (one player, one socket), joining (capacity, closed rooms), resuming
(back on any process after a drop), leaving or going away, closing a room, refreshing a socket's
token, and staging player state for the tick. Chat is rooms.chatting's.
"""

from __future__ import annotations

import logging
import time

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import IntegrityError

from rooms import broadcast, chatting, presence, protocol, tokens
from rooms.hub import away_deadline, hub, player_remove
from rooms.models import Room
from rooms.sanctions import sanctions
from rooms.session import Connection, PlayerSession
from signight import metrics
from signight.auth import InvalidToken, verify
from signight.errors import BACKING_SERVICE_ERRORS, DomainError
from signight.text import iso_unix

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
        await session_end(older.session, away=True)
    hub.register(connection)
    await hub.ensure_started()
    if session.authenticated:
        previous = await presence.player_claim(session.client_id, hub.owner(session))
        node_id, _, connection_id = (previous or "").partition("/")
        if previous is not None and node_id != hub.node_id:
            await hub.nodes.send_replace(
                node_id, client_id=session.client_id, connection_id=connection_id
            )


async def connection_close(connection: Connection, *, away: bool) -> None:
    """The socket is gone: its accepted chats are stored and sent, then it leaves its room, or
    (`away`: it ended without a Leave or the client's own 1000) stays in it, resumable."""
    try:
        await session_end(connection.session, away=away)
    finally:
        hub.unregister(connection)


async def session_end(session: PlayerSession, *, away: bool) -> None:
    """Idempotent: no more frames to this session, and out of its room (or away in it)."""
    await session.chats.settle()
    session.outbox.close()
    await room_leave(session=session, away=away)
    if session.authenticated:
        await presence.player_unclaim(session.client_id, hub.owner(session))


# --- rooms -------------------------------------------------------------------------------------


def room_get_or_create(*, room_id: str) -> Room | None:
    """The room's record; a new one if ROOM_AUTO_CREATE, else None when there is none."""
    if not settings.ROOM_AUTO_CREATE:
        return Room.objects.filter(room_id=room_id).first()
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
    if room is None:
        raise DomainError(f"room {room_id} does not exist", code=E.ROOM_NOT_FOUND)
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
    started = time.monotonic()
    room = await _room_for_join(room_id)
    if room.is_closed:
        raise DomainError(f"room {room_id} is closed", code=E.ROOM_CLOSED)
    name = session.token_name or name
    initial = protocol.initial_state(name, color, spawn)
    state = protocol.state_json(initial)
    sid = tokens.new_session_id()
    await hub.join(room_id, session, state)  # events from here on are held, filtered by seq
    try:
        joined = await presence.player_join(
            room_id=room_id,
            client_id=session.client_id,
            owner=hub.owner(session),
            state=state,
            max_players=room.max_players,
            sid=sid,
        )
    except BaseException:
        await hub.leave(room_id, session.client_id, session)
        raise
    if joined.status is presence.JoinStatus.FULL:
        await hub.leave(room_id, session.client_id, session)
        raise DomainError(f"room {room_id} is full ({room.max_players} players)", code=E.ROOM_FULL)
    session.room_id, session.room_pk = room_id, room.pk
    session.name, session.color = name, initial.color or color
    session.resume_sid = sid
    history = await chatting.chat_history(room_id, joined.chat)
    await session.send(
        protocol.welcome(
            client_id=session.client_id,
            room_id=room_id,
            seq=joined.seq,
            room_state=joined.room_state,
            chat_history=history,
            max_players=room.max_players,
            resume_token=_resume_token(session, joined.epoch),
        )
    )
    await hub.welcomed(room_id, session.client_id, joined.seq)
    if joined.status is presence.JoinStatus.JOINED:
        frame = protocol.player_joined(room_id, joined.seq, session.client_id, state)
        await broadcast.event(room_id, frame, seq=joined.seq, exclude=session.client_id)
    await _closed_meanwhile(session, room_id, started)


def _resume_token(session: PlayerSession, epoch: str) -> str:
    assert session.room_id is not None and session.name is not None
    claims = tokens.ResumeClaims(
        client_id=session.client_id,
        room_id=session.room_id,
        sid=session.resume_sid,
        epoch=epoch,
        name=session.name,
        color=session.color,
        authenticated=session.authenticated,
    )
    return tokens.resume_token_issue(claims)


async def room_resume(*, session: PlayerSession, token: str, last_seq: int) -> None:
    """A Resume: back into the token's room as the same player, on this process. Answered
    with Resumed: recovered (every event after `last_seq`, from the room's log) if it was away
    or held by a socket not yet known dead; else, like a Welcome, the whole room (joined anew,
    with PlayerJoined, if it had left). A bad, spent or foreign token: resume_failed."""
    try:
        recovered = await _resume(session, token, last_seq)
    except DomainError as refused:
        metrics.RESUMES.labels(f"refused_{refused.code}").inc()
        raise
    metrics.RESUMES.labels("recovered" if recovered else "reset").inc()


async def _resume(session: PlayerSession, token: str, last_seq: int) -> bool:
    claims = tokens.resume_token_read(token)
    if sanctions.resume_void(claims.client_id, claims.issued_at):
        raise DomainError("an operator removed this player; send a Join", code=E.RESUME_FAILED)
    if (session.authenticated or claims.authenticated) and claims.client_id != session.client_id:
        raise DomainError("the resume token is for another player", code=E.RESUME_FAILED)
    if session.room_id is not None:
        raise DomainError("resume from a new socket, before any Join", code=E.RESUME_FAILED)
    room_id = claims.room_id
    started = time.monotonic()
    room = await _room_for_join(room_id)
    if room.is_closed:
        raise DomainError(f"room {room_id} is closed", code=E.ROOM_CLOSED)
    sid = tokens.new_session_id()
    fresh = protocol.state_json(protocol.initial_state(claims.name, claims.color))
    resumed = await presence.player_resume(
        room_id=room_id,
        client_id=claims.client_id,
        owner=hub.owner(session),
        token_sid=claims.sid,
        sid=sid,
        last_seq=last_seq,
        epoch=claims.epoch,
        state=fresh,
        max_players=room.max_players,
    )
    if resumed.status is presence.JoinStatus.SUPERSEDED:
        raise DomainError("the resume token was used by a newer connection", code=E.RESUME_FAILED)
    if resumed.status is presence.JoinStatus.FULL:
        raise DomainError(f"room {room_id} is full ({room.max_players} players)", code=E.ROOM_FULL)
    if not session.authenticated:
        session.adopt(claims.client_id)
    state = dict(resumed.room_state).get(claims.client_id, fresh)
    await _enter_resumed(session, room, claims, sid, state, resumed)
    if resumed.previous is not None:  # a socket of this player not yet known to be dead
        await _replace(resumed.previous, session)
    if resumed.status is presence.JoinStatus.JOINED:
        frame = protocol.player_joined(room_id, resumed.seq, claims.client_id, fresh)
        await broadcast.event(room_id, frame, seq=resumed.seq, exclude=session.client_id)
    await _closed_meanwhile(session, room_id, started)
    return resumed.recovered


async def _enter_resumed(
    session: PlayerSession,
    room: Room,
    claims: tokens.ResumeClaims,
    sid: str,
    state: bytes,
    resumed: presence.Resumption,
) -> None:
    """Local delivery starts after the resume took the player (a Resume that loses changes
    nothing here); the events numbered between the two are read back from the room's log."""
    room_id = claims.room_id
    try:
        await hub.join(room_id, session, state)
        catch_up = await presence.events_after(room_id, resumed.seq)
    except BaseException:
        await hub.leave(room_id, session.client_id, session)
        raise  # reconcile removes the entry Redis gave this connection
    session.room_id, session.room_pk, session.resume_sid = room_id, room.pk, sid
    session.name = session.token_name or claims.name
    session.color = _color_of(state, claims.color)
    history = None if resumed.recovered else await chatting.chat_history(room_id, resumed.chat)
    await session.send(
        protocol.resumed(
            client_id=session.client_id,
            room_id=room_id,
            seq=resumed.seq,
            room_state=resumed.room_state,
            missed=resumed.missed,
            chat_history=history,
            max_players=room.max_players,
            resume_token=_resume_token(session, resumed.epoch),
        )
    )
    await hub.welcomed(
        room_id, session.client_id, resumed.seq, [(seq, f.decode()) for seq, f in catch_up]
    )


def _color_of(state: bytes, default: str) -> str:
    try:
        return protocol.decode_state(state).color or default
    except ValueError:
        return default


async def _replace(previous: str, session: PlayerSession) -> None:
    """Close the connection a Resume took the player from (4410), here or on its process. If
    Redis cannot carry the word, that socket is dead anyway (it would have noticed), and its
    removals are conditional on an owner it no longer is."""
    node_id, _, connection_id = previous.partition("/")
    if node_id != hub.node_id:
        try:
            await hub.nodes.send_replace(
                node_id, client_id=session.client_id, connection_id=connection_id
            )
        except BACKING_SERVICE_ERRORS as exc:
            logger.warning("could not tell node %s its socket was replaced: %s", node_id, exc)
        return
    for older in hub.connections_of(session.client_id, besides=None):
        if older.session.connection_id == connection_id:
            await older.close_with(protocol.CloseCode.REPLACED, "replaced by a newer connection")


async def room_leave(*, session: PlayerSession, away: bool = False) -> None:
    """Leave the current room (if any); the others get PlayerLeft. `away`: the socket ended
    without a Leave: the player stays in the room, resumable, and the others are not told.
    Idempotent."""
    room_id, session.room_id = session.room_id, None
    if room_id is None:
        return
    state = hub.latest_state(room_id, session.client_id)
    await hub.leave(room_id, session.client_id, session)
    if away:
        deadline = away_deadline()
        stored = await presence.player_away(
            room_id=room_id,
            client_id=session.client_id,
            owner=hub.owner(session),
            deadline=deadline,
        )
        if stored is not None:
            metrics.PLAYERS_AWAY.inc()
            hub.released(room_id, session.client_id, state or stored, deadline)
    else:
        await player_remove(room_id, session.client_id, owner=hub.owner(session))


# Rooms an operator closed lately, with the reason: a Join or Resume that was under way when the
# word came finds it here once its Welcome or Resumed is out (_closed_meanwhile).
CLOSED_MEMORY_SECONDS = 60.0
_closed: dict[str, tuple[float, str]] = {}


async def room_close(*, room_id: str, reason: str) -> int:
    """An operator closed the room: each of its players here gets RoomClosed and is out of it
    (the others get PlayerLeft); their sockets stay open. Returns how many. A player whose
    Welcome is not out yet is told after it (_closed_meanwhile), never before."""
    _rooms.pop(room_id, None)  # a Join or Resume here reads the closed record at once
    now = time.monotonic()
    _closed[room_id] = (now, reason)
    for stale in [r for r, (at, _) in _closed.items() if at < now - CLOSED_MEMORY_SECONDS]:
        del _closed[stale]
    closed = 0
    for member in hub.members(room_id):
        session = member.session
        if session.room_id != room_id or not member.welcomed:
            continue
        await session.send(protocol.room_closed(room_id, reason))
        await room_leave(session=session)
        closed += 1
    return closed


async def _closed_meanwhile(session: PlayerSession, room_id: str, since: float) -> None:
    """The room was closed while this player's Join or Resume was under way: out again."""
    closed = _closed.get(room_id)
    if closed is not None and closed[0] >= since and session.room_id == room_id:
        await session.send(protocol.room_closed(room_id, closed[1]))
        await room_leave(session=session)


async def room_leave_requested(*, session: PlayerSession) -> None:
    """A Leave message: like room_leave, but not being in a room is the client's error."""
    session.require_room("leaving")
    await session.chats.settle()
    await room_leave(session=session)


async def token_refresh(*, session: PlayerSession, token: str) -> None:
    """A Refresh: a new JWT of the same subject with a later expiry moves the socket's expiry on
    (answered with Refreshed); anything else is refresh_failed and changes nothing."""
    try:
        identity = verify(token)
    except InvalidToken as exc:
        raise DomainError(f"the token is not valid: {exc}", code=E.REFRESH_FAILED) from None
    if not session.authenticated or identity.client_id != session.client_id:
        raise DomainError("the token is for another subject", code=E.REFRESH_FAILED)
    if sanctions.banned(identity.subject):  # its ban did not reach this socket (Redis was down)
        raise DomainError("this subject is banned by an operator", code=E.REFRESH_FAILED)
    current = session.token_expires_at or 0.0
    if identity.expires_at is None or identity.expires_at <= current:
        raise DomainError("the token expires no later than this socket's", code=E.REFRESH_FAILED)
    session.token_expires_at, session.token_warned = identity.expires_at, False
    await session.send(protocol.refreshed(iso_unix(identity.expires_at)))


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
