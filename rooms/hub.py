"""The room hub of this process: its open connections, its local rooms (members, and the gate that
holds a joiner's room events until its Welcome is out), delivery of room traffic to local
sockets, and the loops; it composes the tick (rooms.tick), the nodes (rooms.nodes) and the
watch on its backing services (rooms.watch).

Room events (PlayerJoined, PlayerLeft, Chat) go through the channel layer to every process,
including this one, and are delivered on receipt: Redis orders them, so every client sees the
room's order; each is numbered in the room (presence), and a member gets only those newer than
the snapshot its Welcome carried.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from rooms import broadcast, presence, protocol
from rooms.nodes import Nodes
from rooms.ordering import GAP_WAIT, Event, RoomOrder, logged_event
from rooms.outbox import Wire
from rooms.session import Connection, PlayerSession
from rooms.tick import Tick
from rooms.watch import Watch
from signight import metrics
from signight.errors import BACKING_SERVICE_ERRORS
from signight.text import iso_unix

logger = logging.getLogger(__name__)

RECONCILE_INTERVAL = 5.0  # seconds between looks for ghosts (reconcile)
TOKEN_WARNING_SECONDS = 60.0  # TokenExpiring this long before a socket's JWT expires
HEAL_MAX_PLAYERS = 1_000_000  # players put back were admitted already: no room is full to them


@dataclass(slots=True, eq=False)
class Member:
    """A session in a local room. Until its Welcome is sent, the room's events are held here
    (`held`); after it, only events numbered above `welcome_seq` reach it."""

    session: PlayerSession
    state: bytes  # its state at Join (put back in Redis if Redis lost its data)
    held: list[tuple[int, str]] | None = field(default_factory=list)
    welcome_seq: int = 0
    listed: bool = True  # False once the room was told it left while it is still here

    @property
    def welcomed(self) -> bool:
        return self.held is None


SEEN_EVENTS = 512  # per room: the event numbers delivered lately (a publish run twice is dropped)


@dataclass(slots=True, eq=False)
class LocalRoom:
    members: dict[str, Member] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    seen_order: collections.deque[int] = field(default_factory=collections.deque)
    order: RoomOrder = field(init=False)
    filling: asyncio.Task[None] | None = None  # a read of the room's log to close a gap

    def __post_init__(self) -> None:
        self.order = RoomOrder(self.seen.__contains__)

    def first_time(self, seq: int) -> bool:
        """False for an event already delivered here: a publish retried after its answer was
        lost reaches Redis twice."""
        if seq in self.seen:
            return False
        self.seen.add(seq)
        self.seen_order.append(seq)
        if len(self.seen_order) > SEEN_EVENTS:
            self.seen.discard(self.seen_order.popleft())
        return True


async def player_remove(
    room_id: str,
    client_id: str,
    *,
    owner: str | None = None,
    node_id: str | None = None,
    away: bool = False,
) -> presence.Departure:
    """Take a player out of the room in Redis if `owner` (or, reaping, `node_id`; or, its grace
    over, nobody: `away`) holds it there and, if others remain, tell them (PlayerLeft)."""
    departure = await presence.player_leave(
        room_id=room_id, client_id=client_id, owner=owner, node_id=node_id, away=away
    )
    if departure.status is presence.LeaveStatus.LEFT:
        frame = protocol.player_left(room_id, departure.seq, client_id)
        await broadcast.event(room_id, frame, seq=departure.seq, left=client_id)
    return departure


def drain_schedule(count: int, period: float, rng: random.Random | None = None) -> list[float]:
    """When (seconds into a drain of `period`) each of `count` sockets is closed: one in each of
    `count` equal slots, at a random moment in its slot (spread evenly, with jitter)."""
    draw = (rng or random).random
    return [period * (slot + draw()) / count for slot in range(count)]


def away_deadline() -> float:
    """When a player whose socket ends now stops being resumable (Unix seconds)."""
    return time.time() + settings.RESUME_GRACE_SECONDS


class RoomHub:
    def __init__(self) -> None:
        self.node_id = uuid.uuid4().hex
        self.rooms: dict[str, LocalRoom] = {}
        self._connections: set[Connection] = set()
        # Players whose socket ended here, away until their deadline: (room, client) ->
        # (deadline, state). If Redis loses its data meanwhile, heal puts them back away.
        self._released: dict[tuple[str, str], tuple[float, bytes]] = {}
        self.nodes = Nodes(
            node_id=self.node_id,
            ttl=settings.PRESENCE_TTL_SECONDS,
            abandon=self._abandon,
            heal=self.heal,
        )
        self.tick = Tick(
            node_id=self.node_id,
            period=1.0 / settings.TICK_RATE,
            store=functools.partial(presence.states_store, self.node_id),
            send=self.nodes.send_states,
            deliver=self._deliver_states,
            keyframe_every=max(1, round(settings.KEYFRAME_SECONDS * settings.TICK_RATE)),
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._started: asyncio.Future[None] | None = None
        self._stopping = False
        self.watch = Watch()
        self._background: set[asyncio.Task[None]] = set()
        # An operator's action on this process's sockets (rooms.moderation sets it): returns its
        # answer ({"reached": how many sockets, ...}).
        self.moderate: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None

    # --- connections ---------------------------------------------------------------------------

    def register(self, connection: Connection) -> None:
        self._connections.add(connection)

    def unregister(self, connection: Connection) -> None:
        self._connections.discard(connection)

    def owner(self, session: PlayerSession) -> str:
        """Who holds this session's player in Redis: this process, this connection."""
        return presence.owner(self.node_id, session.connection_id)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def connections_of(self, client_id: str, *, besides: Connection | None) -> list[Connection]:
        """Other open connections of the same player (same token subject)."""
        return [
            c for c in self._connections if c is not besides and c.session.client_id == client_id
        ]

    async def close_idle(self, now: float) -> None:
        """Close sockets that sent nothing (Ping counts) for WS_IDLE_TIMEOUT with 4408: a code of
        its own, so a client does not reconnect in a loop as it would after a drain's 1001."""
        limit = settings.WS_IDLE_TIMEOUT
        for connection in [c for c in self._connections if now - c.last_seen > limit]:
            await connection.close_with(protocol.CloseCode.IDLE_TIMEOUT, "idle timeout")

    async def close_expired(self, now: float) -> None:
        """A socket whose JWT expired without a Refresh closes 4401; one whose JWT expires within
        TOKEN_WARNING_SECONDS (Unix `now`) is told when, once per expiry (TokenExpiring)."""
        for connection in list(self._connections):
            session = connection.session
            expires = session.token_expires_at
            if expires is None:
                continue
            if now >= expires:
                await connection.close_with(protocol.CloseCode.UNAUTHORIZED, "token expired")
            elif expires - now <= TOKEN_WARNING_SECONDS and not session.token_warned:
                session.token_warned = True
                await session.send(protocol.token_expiring(iso_unix(expires)))

    async def drain(self, period: float, code: int, reason: str) -> None:
        """Hand every socket over within `period` seconds: each is closed at its own moment in
        it (drain_schedule), so a pod's players do not all resume elsewhere at once; sockets
        still open at the end are closed then."""
        connections = list(self._connections)
        random.shuffle(connections)
        start = time.monotonic()
        closing: list[asyncio.Task[None]] = []
        schedule = drain_schedule(len(connections), period)
        for connection, due in zip(connections, schedule, strict=True):
            await asyncio.sleep(max(0.0, start + due - time.monotonic()))
            closing.append(asyncio.create_task(connection.close_with(code, reason)))
        await asyncio.gather(*closing, return_exceptions=True)
        await self.close_all(code, reason)

    async def close_all(self, code: int, reason: str, *, wait: float = 5.0) -> None:
        """Close every socket of this process and wait for their leave handlers to finish."""
        await asyncio.gather(
            *(c.close_with(code, reason) for c in list(self._connections)),
            return_exceptions=True,
        )
        deadline = time.monotonic() + wait
        while self._connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    # --- lifecycle -----------------------------------------------------------------------------

    async def ensure_started(self) -> None:
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                await self._start()
            except BaseException as exc:
                self._started.set_exception(exc)
                self._started.exception()  # mark retrieved; the next caller retries
                self._started = None
                raise
            self._started.set_result(None)
        await self._started

    async def _start(self) -> None:
        self._stopping = self.tick.stopping = False
        self.watch.start(time.monotonic())
        channel = await self.nodes.register()
        loops = {
            "tick": self.tick.run,
            "receive": self._receive_loop,
            "housekeeping": self._housekeeping,
        }
        for name, loop in loops.items():
            self._tasks.append(asyncio.create_task(loop(), name=f"hub.{name}"))
        logger.info("room hub started: node %s, channel %s", self.node_id, channel)

    def healthy(self) -> bool:
        """False once a loop of a started hub has ended by itself, or while its channel-layer
        subscription is deaf (readiness)."""
        return self._stopping or not (self.watch.deaf or any(task.done() for task in self._tasks))

    async def stop(self) -> None:
        """Flush pending states, leave this node's remaining players away in Redis (they may
        resume elsewhere), stop the loops."""
        if self._started is None:
            return
        with contextlib.suppress(Exception):
            await self.tick.flush()
        for room_id, room in list(self.rooms.items()):
            for client_id, member in list(room.members.items()):
                with contextlib.suppress(Exception):
                    await self.leave(room_id, client_id)
                with contextlib.suppress(Exception):
                    await presence.player_away(
                        room_id=room_id,
                        client_id=client_id,
                        owner=self.owner(member.session),
                        deadline=away_deadline(),
                    )
        self._stopping = self.tick.stopping = True
        with contextlib.suppress(Exception):  # wake the receive loop so it sees _stopping
            await broadcast.wake(self.nodes.channel)
        self.watch.stop()
        for task in self._tasks:
            task.cancel()
        # redis-py may turn a cancellation into TimeoutError; the loops also watch _stopping.
        _done, stuck = await asyncio.wait(self._tasks, timeout=5)
        for task in stuck:
            logger.warning("hub task %s did not stop in 5 s", task.get_name())
        self._tasks.clear()
        for room_id in list(self.rooms):
            self.tick.close_room(room_id)
        self.rooms.clear()
        with contextlib.suppress(Exception):
            await self.nodes.forget()
        self._started = None

    # --- local rooms ---------------------------------------------------------------------------

    async def join(self, room_id: str, session: PlayerSession, state: bytes) -> None:
        """Receive the room's events for this session from now on, held until `welcomed`."""
        if room_id not in self.rooms:
            # Subscribe first: a failure (Redis down) leaves no room here that hears nothing.
            assert self.nodes.channel is not None
            await broadcast.subscribe(room_id, self.nodes.channel)
            if room_id not in self.rooms:
                self.rooms[room_id] = LocalRoom()
                self.tick.open_room(room_id)
        self.rooms[room_id].members[session.client_id] = Member(session, state)
        self.tick.remember(room_id, session.client_id, state)

    async def welcomed(
        self, room_id: str, client_id: str, seq: int, catch_up: Sequence[tuple[int, str]] = ()
    ) -> None:
        """The Welcome or Resumed (the room as of event `seq`) is sent: release the newer held
        events, with `catch_up` (events read from the room's log), each once, in order."""
        room = self.rooms.get(room_id)
        member = room.members.get(client_id) if room is not None else None
        if room is None or member is None:  # it left meanwhile (replaced, or the hub stopped)
            return
        held, member.held, member.welcome_seq = member.held or [], None, seq
        room.order.start(seq)
        pending = dict(catch_up)
        pending.update(held)
        for event_seq in sorted(pending):
            if event_seq > seq:
                await member.session.outbox.put(pending[event_seq])
                member.welcome_seq = max(member.welcome_seq, event_seq)

    def latest_state(self, room_id: str, client_id: str) -> bytes | None:
        """A local member's newest state (staged, sent, or as it joined)."""
        room = self.rooms.get(room_id)
        member = room.members.get(client_id) if room is not None else None
        latest = self.tick.latest(room_id, client_id)
        return latest if latest is not None else (member.state if member is not None else None)

    async def _abandon(self, room_id: str, client_id: str, node_id: str) -> bool:
        """A dead process's player goes away: it may resume elsewhere within the grace (and
        this process, its reaper, remembers it in case Redis loses its data meanwhile)."""
        deadline = away_deadline()
        state = await presence.player_away(
            room_id=room_id, client_id=client_id, node_id=node_id, deadline=deadline
        )
        if state is None:
            return False
        metrics.PLAYERS_AWAY.inc()
        self.released(room_id, client_id, state, deadline)
        return True

    def released(self, room_id: str, client_id: str, state: bytes, deadline: float) -> None:
        """A player whose socket ended here (or whose dead process this one reaped) went away
        until `deadline` (Unix seconds), at `state`."""
        if state:  # else Redis had no state for it: nothing to put back
            self._released[(room_id, client_id)] = (deadline, state)

    async def heal(self) -> int:
        """Redis lost its data: put every local player back in its room (no PlayerJoined: the
        others know it), and every player released here that is still within its grace back
        away (so it resumes, or the room is told it left); the next Updates bring the latest
        states. Returns how many local players were put back."""
        now = time.time()
        for (room_id, client_id), (deadline, state) in list(self._released.items()):
            if deadline > now:  # kept till then: Redis may lose its data twice
                await presence.player_restore_away(
                    room_id=room_id, client_id=client_id, state=state, deadline=deadline
                )
        healed = 0
        for room_id, room in list(self.rooms.items()):
            for client_id, member in list(room.members.items()):
                await presence.player_join(
                    room_id=room_id,
                    client_id=client_id,
                    owner=self.owner(member.session),
                    state=member.state,
                    max_players=HEAL_MAX_PLAYERS,
                    sid=member.session.resume_sid,
                    logged=False,
                )
                healed += 1
        return healed

    async def reconcile(self) -> tuple[int, int]:
        """Make what Redis lists for this process agree with its sockets; returns (removed,
        re-added). A player listed with no local member here (a join or leave cut short by a
        Redis error or stall) is removed, with PlayerLeft. A welcomed local member that Redis
        does not list (reaped while this process stalled) is put back, with PlayerJoined,
        unless another connection has claimed the player since. Redis data loss is `heal`'s."""
        listed = await presence.node_clients(self.node_id)
        removed = readded = 0
        for client_id, room_id in listed:
            room = self.rooms.get(room_id)  # looked at now: a join may have begun meanwhile
            if room is None or client_id not in room.members:
                departure = await player_remove(room_id, client_id, node_id=self.node_id)
                removed += departure.removed
        known = set(listed)
        for room_id, room in list(self.rooms.items()):
            for client_id, member in list(room.members.items()):
                if member.welcomed and (client_id, room_id) not in known:
                    readded += await self._readd(room_id, member)
        if removed or readded:
            logger.warning(
                "reconcile: removed %d players with no socket here, put back %d", removed, readded
            )
        return removed, readded

    async def _readd(self, room_id: str, member: Member) -> int:
        """Put a connected member back: taken back if it was made away (reaped while this
        process stalled), joined anew with PlayerJoined if it was removed; not if another
        connection holds the player or a newer session of it exists."""
        session = member.session
        joined = await presence.player_resume(
            room_id=room_id,
            client_id=session.client_id,
            owner=self.owner(session),
            token_sid=session.resume_sid,
            sid=session.resume_sid,
            last_seq=0,
            epoch="",
            state=member.state,
            max_players=HEAL_MAX_PLAYERS,
            readd=True,
        )
        if joined.status is presence.JoinStatus.RESUMED:
            member.listed = True
            return 1
        if joined.status is not presence.JoinStatus.JOINED:
            return 0
        member.listed = True
        frame = protocol.player_joined(room_id, joined.seq, session.client_id, member.state)
        await broadcast.event(room_id, frame, seq=joined.seq, exclude=session.client_id)
        return 1

    async def leave(
        self, room_id: str, client_id: str, session: PlayerSession | None = None
    ) -> bool:
        """Stop delivering the room to this player here (Redis is the caller's business) — to
        `session` only, if given (a resumed copy of the player may have replaced it); True if
        it was a local member. The last local member out leaves the room's group."""
        room = self.rooms.get(room_id)
        member = room.members.get(client_id) if room is not None else None
        if (
            room is None
            or member is None
            or (session is not None and member.session is not session)
        ):
            return False
        del room.members[client_id]
        self.tick.forget(room_id, client_id)
        if not room.members:
            del self.rooms[room_id]
            self.tick.close_room(room_id)
            assert self.nodes.channel is not None
            await broadcast.unsubscribe(room_id, self.nodes.channel)
        return True

    def stage(self, room_id: str, client_id: str, state: bytes) -> None:
        """Hot path (every Update): the latest state waits for the next tick. No I/O. Not for a
        member the room was told had left (until it is put back)."""
        room = self.rooms.get(room_id)
        member = room.members.get(client_id) if room is not None else None
        if member is not None and member.listed:
            self.tick.stage(room_id, client_id, state)

    def members(self, room_id: str) -> Iterator[Member]:
        room = self.rooms.get(room_id)
        return iter(list(room.members.values())) if room is not None else iter(())

    async def _deliver_states(self, room_id: str, frame: str, wire: Wire) -> int:
        # Outbox.put never waits for a slow client, so this loop does not yield per socket.
        sent = 0
        for member in self.members(room_id):
            if member.held is None:  # a joiner's Welcome carries the states
                await member.session.outbox.put(frame, wire)
                sent += 1
        return sent

    # --- cross-process -------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        channel = self.nodes.channel
        assert channel is not None
        while not self._stopping:
            try:
                message = await broadcast.receive(channel)
                await self._on_message(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("channel layer receive failed; retrying")
                await asyncio.sleep(1.0)

    async def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == broadcast.STATES:
            self.tick.on_batch(message["node"], message["tick"], message["rooms"])
        elif kind == broadcast.EVENT:
            await self._on_event(message)
        elif kind == broadcast.REPLACE:
            await self._on_replaced(message["client"], message["connection"])
        elif kind == broadcast.PROBE:
            self.watch.probe_arrived(time.monotonic())
        elif kind == broadcast.MODERATE:  # not awaited here: a kick's leave does I/O
            task = asyncio.create_task(self._on_moderate(message["action"], message["reply"]))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _on_moderate(self, action: dict[str, Any], reply: str) -> None:
        answer: dict[str, Any] = {"reached": 0}
        try:
            if self.moderate is not None:
                answer = await self.moderate(action)
        except Exception:
            logger.exception("an operator's action %s failed here", action.get("action"))
        try:
            await broadcast.moderated(reply, node_id=self.node_id, answer=answer)
        except BACKING_SERVICE_ERRORS as exc:
            logger.warning("could not answer an operator's action: %s", exc)

    async def _on_replaced(self, client_id: str, connection_id: str) -> None:
        """A newer connection of this player opened on another process: close ours (4410);
        its leave then removes nothing that the newer one holds."""
        for connection in list(self._connections):
            session = connection.session
            if session.client_id == client_id and session.connection_id == connection_id:
                await connection.close_with(
                    protocol.CloseCode.REPLACED, "replaced by a newer connection"
                )

    def _left_while_here(self, room_id: str, member: Member | None) -> None:
        """The room was told that a player still connected here left (its process was reaped
        while stalled): its states stop until it is put back, with PlayerJoined, at once."""
        if member is None or not member.welcomed or not member.listed:
            return
        member.listed = False

        async def readd() -> None:
            try:
                await self._readd(room_id, member)
            except BACKING_SERVICE_ERRORS as exc:  # reconcile tries again
                logger.warning("putting back %s failed: %s", member.session.client_id, exc)

        task = asyncio.create_task(readd())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _on_event(self, message: Event) -> None:
        """A room event arrived: delivered in the room's order (rooms.ordering); one that
        leaves a gap waits GAP_WAIT s for the one before it, then the room's log fills it."""
        room = self.rooms.get(message["room"])
        if room is None or not room.first_time(message["seq"]):
            return
        for event in room.order.offer(message["seq"], message):
            await self._deliver_event(room, event)
        if room.order.waiting:
            self._fill_gap(message["room"], room, GAP_WAIT)

    def _fill_gap(self, room_id: str, room: LocalRoom, wait: float) -> None:
        if room.filling is None or room.filling.done():
            room.filling = asyncio.create_task(self._fill(room_id, room, wait))

    async def _fill(self, room_id: str, room: LocalRoom, wait: float) -> None:
        """Close the room's gap from its log after `wait` s; again while a gap is open (an
        event that arrived ahead of another during the read)."""
        while True:
            await asyncio.sleep(wait)
            if room.order.last is None or self.rooms.get(room_id) is not room:
                return
            try:
                rows, newest = await presence.events_since(room_id, room.order.last)
                logged = [(seq, logged_event(room_id, seq, frame)) for seq, frame in rows]
            except Exception as exc:  # Redis unreachable, or a log entry not understood
                logger.warning("room %s: its event log could not be read: %s", room_id, exc)
                events = room.order.give_up()
            else:
                events = room.order.fill(
                    [(seq, event) for seq, event in logged if room.first_time(seq)], newest
                )
                metrics.EVENTS_FILLED.inc(len(logged))
            for event in events:
                await self._deliver_event(room, event)
            if not room.order.waiting:
                return
            wait = GAP_WAIT

    async def catch_up(self) -> int:
        """Read the room's log for every local room that misses an event numbered a look ago
        (its publish was lost: the answer of the script that numbered it never came back, or
        its process died before publishing). Returns how many rooms were behind."""
        rooms = [(room_id, room) for room_id, room in self.rooms.items()]
        numbers = await presence.event_numbers([room_id for room_id, _ in rooms])
        behind = 0
        for (room_id, room), newest in zip(rooms, numbers, strict=True):
            if room.order.overdue(newest):
                behind += 1
                self._fill_gap(room_id, room, 0.0)
        return behind

    async def _deliver_event(self, room: LocalRoom, message: Event) -> None:
        room_id, frame, seq = message["room"], message["frame"], message["seq"]
        exclude, left = message.get("exclude"), message.get("left")
        deadline = message.get("deadline")
        if deadline is not None and time.time() > deadline:
            logger.warning(
                "dropped a %s event for room %s: it came after its deadline",
                message.get("kind"),
                room_id,
            )
            return
        if left is not None:  # no StateUpdate may mention a player after its PlayerLeft
            self.tick.forget(room_id, left)
            self._left_while_here(room_id, room.members.get(left))
        sent = 0
        wire = Wire(frame.encode())
        for client_id, member in list(room.members.items()):
            if client_id in (exclude, left):  # nobody is told of its own leaving
                continue
            if member.held is not None:
                member.held.append((seq, frame))
            elif seq > member.welcome_seq:
                await member.session.outbox.put(frame, wire)
                sent += 1
        metrics.FRAMES_OUT.labels(message.get("kind", "event")).inc(sent)

    # --- housekeeping --------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        last_reconcile = time.monotonic()
        while not self._stopping:
            await asyncio.sleep(1.0)
            try:
                assert self.nodes.channel is not None
                await self.watch.probe(self.nodes.channel, time.monotonic())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("hub probe: channel layer unavailable: %s", exc)
            try:
                now = time.monotonic()
                await self.close_idle(now)
                await self.close_expired(time.time())
                await self.nodes.maintain(now)
                await self.expire_away()
                await self.catch_up()
                if now - last_reconcile >= RECONCILE_INTERVAL:
                    last_reconcile = now
                    await self.reconcile()
            except asyncio.CancelledError:
                raise
            except BACKING_SERVICE_ERRORS as exc:
                logger.warning("hub housekeeping: Redis unavailable: %s", exc)
            except Exception:
                logger.exception("hub housekeeping failed; retrying")
            await self.watch.mongodb(time.monotonic())
            await self._close_if_outage_outlasts(time.monotonic())

    async def expire_away(self) -> int:
        """Players away longer than the grace leave their rooms (PlayerLeft), once cluster-wide:
        every process looks, the leave script decides. Returns how many left here."""
        now = time.time()
        for key, (until, _) in list(self._released.items()):  # past their grace: forgotten
            if until <= now:
                del self._released[key]
        left = 0
        for room_id, client_id in await presence.away_due(now):
            departure = await player_remove(room_id, client_id, away=True)
            left += departure.removed
        return left

    async def _close_if_outage_outlasts(self, now: float) -> None:
        """A Redis outage (heartbeats unanswered since) or a MongoDB outage (pings) longer than
        BACKEND_OUTAGE_CLOSE_SECONDS: close this process's sockets with 1013 so clients back off
        and reconnect (perhaps to a process that reaches it). Shorter outages keep them open."""
        name, seconds = self.watch.longest_outage(self.nodes.outage_since, now)
        if self._connections and seconds >= settings.BACKEND_OUTAGE_CLOSE_SECONDS:
            logger.warning(
                "%s unavailable for %.0f s: closing %d sockets with 1013",
                name,
                seconds,
                len(self._connections),
            )
            await self.close_all(protocol.CloseCode.TRY_AGAIN_LATER, "service unavailable", wait=0)


hub = RoomHub()
