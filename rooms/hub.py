"""The process-local room hub: which sockets of this process are in which room, the tick that
coalesces state updates, and delivery of room traffic to local sockets.

Tick (every 1/TICK_RATE s, aligned to the wall clock so every process ticks together):
  publish  - the changed states of local players go to Redis in one pipeline (presence), which
             answers which processes hold each room; every other such process gets ONE
             channel-layer message with all its shared rooms' batches (broadcast.states), sent
             beside the store to the holders the previous store named;
  gather   - once every process that sent a batch for the previous tick has sent this tick's
             (at most GATHER_MAX_SECONDS; at once when no other process shares a room), each
             room's changes, local and remote, go out as ONE StateUpdate frame, encoded once.
Room events (PlayerJoined, PlayerLeft, Chat) go through the channel layer to every process,
including this one, and are delivered on receipt: Redis orders them, so every client sees the
room's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from rooms import broadcast, presence, protocol
from rooms.outbox import Wire
from rooms.session import PlayerSession
from signight import metrics

logger = logging.getLogger(__name__)

GATHER_MAX_SECONDS = 0.030  # longest a tick waits for the same tick's batches of other processes
REAP_INTERVAL = 5.0


@dataclass(slots=True, eq=False)
class LocalRoom:
    members: dict[str, PlayerSession] = field(default_factory=dict)
    outbox: dict[str, bytes] = field(default_factory=dict)  # local changes not yet published
    inbox: dict[str, bytes] = field(default_factory=dict)  # changes not yet delivered locally


class RoomHub:
    def __init__(self) -> None:
        self.node_id = uuid.uuid4().hex
        self.channel: str | None = None
        self.rooms: dict[str, LocalRoom] = {}
        self.sockets: set[Any] = set()  # every open GameConsumer of this process
        self._tasks: list[asyncio.Task[None]] = []
        self._started: asyncio.Future[None] | None = None
        self._stopping = False
        self._node_channels: dict[str, str] = {}
        self._holders: dict[str, list[str]] = {}  # room -> nodes holding it (last store's answer)
        self._unpublished: dict[str, dict[str, bytes]] = {}
        self._unpublished_tick = 0
        self._peer_ticks: dict[str, int] = {}  # other node -> newest tick number it sent us
        self._peers_in: asyncio.Event | None = None  # set when the awaited batches are in
        self._gathering = 0  # the tick being gathered
        self._publisher: asyncio.Task[None] | None = None
        self.tick_seconds = 1.0 / settings.TICK_RATE

    # --- lifecycle ---------------------------------------------------------------------------

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
        self._stopping = False
        self.channel = await broadcast.node_channel()
        await presence.node_register(
            node_id=self.node_id, channel=self.channel, ttl=settings.PRESENCE_TTL_SECONDS
        )
        for loop in (self._tick_loop, self._receive_loop, self._housekeeping_loop):
            self._tasks.append(asyncio.create_task(loop(), name=f"hub.{loop.__name__}"))
        logger.info("room hub started: node %s", self.node_id)

    async def stop(self) -> None:
        """Flush pending states, remove this node's players from Redis, stop the loops."""
        if self._started is None:
            return
        with contextlib.suppress(Exception):
            await self._publish()
            await self._deliver()
        for room_id, room in list(self.rooms.items()):
            for client_id in list(room.members):
                with contextlib.suppress(Exception):
                    await self.leave(room_id, client_id)
        self._stopping = True
        with contextlib.suppress(Exception):  # wake the receive loop so it sees _stopping
            await broadcast.wake(self.channel)
        for task in self._tasks:
            task.cancel()
        # redis-py may turn a cancellation into TimeoutError; the loops also watch _stopping.
        _done, stuck = await asyncio.wait(self._tasks, timeout=5)
        for task in stuck:
            logger.warning("hub task %s did not stop in 5 s", task.get_name())
        self._tasks.clear()
        self.rooms.clear()
        with contextlib.suppress(Exception):
            await presence.node_forget(self.node_id)
        self._started = None

    # --- membership --------------------------------------------------------------------------

    async def attach(self, room_id: str, session: PlayerSession) -> None:
        """Receive the room's events for this session from now on, held until `admit`."""
        session.pending = []
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = LocalRoom()
            assert self.channel is not None
            await broadcast.subscribe(room_id, self.channel)
        room.members[session.client_id] = session

    async def admit(self, session: PlayerSession, seq: int) -> None:
        """The Welcome (room as of event `seq`) is sent: release the newer held events."""
        held, session.pending, session.joined_seq = session.pending or [], None, seq
        for event_seq, frame in held:
            if event_seq > seq:
                await session.outbox.put(frame)

    async def detach(self, room_id: str, client_id: str) -> None:
        room = self.rooms.get(room_id)
        if room is None:
            return
        room.members.pop(client_id, None)
        room.outbox.pop(client_id, None)
        if not room.members:
            del self.rooms[room_id]
            self._holders.pop(room_id, None)
            assert self.channel is not None
            await broadcast.unsubscribe(room_id, self.channel)

    async def leave(self, room_id: str, client_id: str) -> bool:
        """Detach locally, remove from Redis, tell the room. True if the player was there."""
        await self.detach(room_id, client_id)
        seq = await presence.player_exit(room_id=room_id, client_id=client_id, node_id=self.node_id)
        if seq:
            await broadcast.event(room_id, protocol.player_left(client_id), seq=seq, left=client_id)
        return seq is not None

    def stage_state(self, room_id: str, client_id: str, state: bytes) -> None:
        """Hot path (every Update): remember the latest state until the next tick. No I/O."""
        room = self.rooms.get(room_id)
        if room is not None:
            room.outbox[client_id] = state

    # --- tick --------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        period = self.tick_seconds
        deadline = (time.time() // period + 1) * period
        while not self._stopping:
            delay = deadline - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tick = round(deadline / period)  # the same number in every process (wall clock)
            # A late tick runs at once instead of skipping a beat; far behind, realign.
            deadline = max(deadline + period, (time.time() // period) * period)
            try:
                self._take_outboxes(tick)
                await self._gather(tick)
                started = time.perf_counter()
                await self._deliver()
                metrics.TICK_SECONDS.observe(time.perf_counter() - started)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("tick failed")

    def _take_outboxes(self, tick: int) -> None:
        """Local changes go to this tick's delivery at once; their Redis write and the sends to
        other processes run beside the tick (one at a time, in order), never delaying it."""
        self._unpublished_tick = tick
        for room_id, room in self.rooms.items():
            if room.outbox:
                room.inbox.update(room.outbox)
                pending = self._unpublished.setdefault(room_id, {})
                pending.update(room.outbox)
                room.outbox = {}
        if self._unpublished and (self._publisher is None or self._publisher.done()):
            self._publisher = asyncio.create_task(self._publish_pending())

    async def _publish_pending(self) -> None:
        while self._unpublished and not self._stopping:
            batch, self._unpublished = self._unpublished, {}
            try:
                await self._publish(batch, self._unpublished_tick)
            except Exception:
                logger.exception("publishing a tick failed")

    async def _publish(
        self, batch: dict[str, dict[str, bytes]] | None = None, tick: int = 0
    ) -> None:
        if batch is None:  # shutdown: whatever is left
            self._take_outboxes(self._unpublished_tick)
            batch, self._unpublished = self._unpublished, {}
            tick = self._unpublished_tick
        if not batch:
            return
        # The other holders of each room as the previous tick's store answered: their batches
        # go out beside this tick's store, not after it; a holder the store names anew gets
        # its rooms right after (one more message that tick).
        known = {room_id: self._holders.get(room_id, ()) for room_id in batch}
        holders, _ = await asyncio.gather(
            presence.states_store(batch), self._send_states(batch, known, tick)
        )
        self._holders.update(holders)
        missed = {
            room_id: [node for node in nodes if node not in known[room_id]]
            for room_id, nodes in holders.items()
        }
        await self._send_states(batch, missed, tick)

    async def _send_states(
        self, batch: dict[str, dict[str, bytes]], holders: dict[str, Any], tick: int
    ) -> None:
        outgoing: dict[str, dict[str, list[tuple[str, bytes]]]] = {}
        for room_id, nodes in holders.items():
            for node in nodes:
                if node != self.node_id:
                    outgoing.setdefault(node, {})[room_id] = list(batch[room_id].items())
        if outgoing:
            channels = await self._channels_of(outgoing)
            await asyncio.gather(
                *(
                    broadcast.states(channels[node], node_id=self.node_id, tick=tick, rooms=rooms)
                    for node, rooms in outgoing.items()
                    if node in channels
                )
            )

    async def _channels_of(self, nodes: dict[str, Any]) -> dict[str, str]:
        if any(node not in self._node_channels for node in nodes):
            self._node_channels = await presence.node_channels()
        return self._node_channels

    async def _gather(self, tick: int) -> None:
        """Wait for this tick's batches from the processes that sent one for the previous tick
        (those that did not have gone quiet and are not waited for)."""
        for node, last in list(self._peer_ticks.items()):
            if last < tick - 1:
                del self._peer_ticks[node]
        if not self._awaiting(tick):
            return
        self._gathering, self._peers_in = tick, asyncio.Event()
        try:
            async with asyncio.timeout(GATHER_MAX_SECONDS):
                await self._peers_in.wait()
        except TimeoutError:
            metrics.GATHER_TIMEOUTS.inc()
        finally:
            self._peers_in = None

    def _awaiting(self, tick: int) -> bool:
        return any(last < tick for last in self._peer_ticks.values())

    async def _deliver(self) -> None:
        # Outbox.put never waits for a slow client, so this loop does not yield per socket.
        for room in list(self.rooms.values()):
            if room.inbox:
                frame = protocol.state_update(list(room.inbox.items()))
                wire = Wire(frame.encode())
                room.inbox = {}
                sent = 0
                for session in list(room.members.values()):
                    if session.pending is None:  # a joiner's Welcome carries the states
                        await session.outbox.put(frame, wire)
                        sent += 1
                metrics.OUT_STATE_UPDATE.inc(sent)

    # --- cross-process -----------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        assert self.channel is not None
        while not self._stopping:
            try:
                message = await broadcast.receive(self.channel)
                await self._on_message(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("channel layer receive failed; retrying")
                await asyncio.sleep(1.0)

    async def _on_message(self, message: dict[str, Any]) -> None:
        if message["type"] == broadcast.STATES:
            for room_id, players in message["rooms"].items():
                room = self.rooms.get(room_id)
                if room is not None:
                    room.inbox.update(players)
            node, tick = message["node"], message["tick"]
            metrics.PEER_BATCH_LAG.observe(time.time() - tick * self.tick_seconds)
            if tick > self._peer_ticks.get(node, -1):
                self._peer_ticks[node] = tick
            if self._peers_in is not None and not self._awaiting(self._gathering):
                self._peers_in.set()
            return
        room = self.rooms.get(message.get("room", ""))
        if room is None:
            return
        if message["type"] == broadcast.EVENT:
            frame, seq = message["frame"], message["seq"]
            exclude, left = message.get("exclude"), message.get("left")
            if left is not None:  # no StateUpdate may mention a player after its PlayerLeft
                room.inbox.pop(left, None)
            sent = 0
            wire = Wire(frame.encode())
            for client_id, session in list(room.members.items()):
                if client_id == exclude:
                    continue
                if session.pending is not None:
                    session.pending.append((seq, frame))
                elif seq > session.joined_seq:
                    await session.outbox.put(frame, wire)
                    sent += 1
            metrics.FRAMES_OUT.labels(message.get("kind", "event")).inc(sent)

    async def _housekeeping_loop(self) -> None:
        ttl = settings.PRESENCE_TTL_SECONDS
        beat = max(1.0, ttl / 3)
        last_beat = last_reap = time.monotonic()
        while not self._stopping:
            await asyncio.sleep(1.0)
            try:
                assert self.channel is not None
                now = time.monotonic()
                await self.close_idle(now)
                if now - last_beat >= beat:
                    last_beat = now
                    await presence.node_register(
                        node_id=self.node_id, channel=self.channel, ttl=ttl
                    )
                if now - last_reap >= REAP_INTERVAL:
                    last_reap = now
                    await self.reap_dead_nodes()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub housekeeping failed; retrying")

    async def close_idle(self, now: float) -> None:
        """Close sockets that sent nothing (Ping counts) for WS_IDLE_TIMEOUT with 1001."""
        limit = settings.WS_IDLE_TIMEOUT
        for socket in [s for s in self.sockets if now - s.last_seen > limit]:
            await socket.close_with(protocol.CloseCode.GOING_AWAY, "idle timeout")

    def sockets_of(self, client_id: str, *, besides: Any) -> list[Any]:
        return [s for s in self.sockets if s is not besides and s.session.client_id == client_id]

    async def close_all(self, code: int, reason: str, *, wait: float = 5.0) -> None:
        """Close every socket of this process and wait for their leave handlers to finish."""
        await asyncio.gather(
            *(socket.close_with(code, reason) for socket in list(self.sockets)),
            return_exceptions=True,
        )
        deadline = time.monotonic() + wait
        while self.sockets and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def reap_dead_nodes(self) -> int:
        """Remove the players of processes whose heartbeat expired; returns how many."""
        reaped = 0
        # Its group subscriptions ended with its Redis connection (pub/sub channel layer).
        for node_id in await presence.nodes_dead():
            if node_id == self.node_id or not await presence.node_claim_reap(node_id, ttl=30):
                continue
            for client_id, room_id in await presence.node_clients(node_id):
                seq = await presence.player_exit(
                    room_id=room_id, client_id=client_id, node_id=node_id
                )
                if seq is not None:
                    reaped += 1
                if seq:
                    frame = protocol.player_left(client_id)
                    await broadcast.event(room_id, frame, seq=seq, left=client_id)
            await presence.node_forget(node_id)
            logger.warning("reaped dead node %s: %d players removed", node_id, reaped)
        return reaped


hub = RoomHub()
