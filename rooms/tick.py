"""The tick: every 1/TICK_RATE s (on the wall clock, so every process ticks together) the latest
player states are staged → published → gathered → delivered as ONE StateUpdate per room.

  stage    - an Update only remembers the player's latest state (no I/O);
  take     - a tick takes the staged states: they are due for this tick's delivery at once, and
             are published beside the tick (one publish at a time, in order, never delaying it);
  publish  - the states of all rooms go to Redis in one round trip (`store`, which answers which
             processes hold each room) and every other process that shares a room gets ONE
             message with its rooms' batches (`send`), sent beside the store to the holders that
             the previous store named;
  gather   - wait until every process that sent a batch for the previous tick has sent this
             tick's (at most GATHER_MAX_SECONDS; not at all when no other process shares a room);
  deliver  - each room's due states, local and remote, become one frame, encoded and framed once
             (`deliver` hands it to the room's sockets).
Every `keyframe_every` ticks (KEYFRAME_SECONDS, the same ticks in every process) a tick takes
every local player's latest state, changed or not: batches ride at-most-once pub/sub, so a lost
one is corrected by the next keyframe, whose StateUpdate carries every present player.
The I/O is passed in (Store, Send, Deliver), so the steps are testable with plain fakes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from rooms import protocol
from rooms.outbox import Wire
from signight import metrics

logger = logging.getLogger(__name__)

GATHER_MAX_SECONDS = 0.030  # longest a tick waits for the same tick's batches of other processes

States = dict[str, bytes]  # client_id -> state JSON
Batch = dict[str, States]  # room_id -> states
# Redis: store a batch, answer room_id -> ids of the processes holding the room
Store = Callable[[Batch], Awaitable[dict[str, list[str]]]]
# the other processes: tick number, node_id -> {room_id: [(client_id, state), ...]}
Send = Callable[[int, dict[str, dict[str, list[tuple[str, bytes]]]]], Awaitable[None]]
# the local sockets of a room: one frame for all; returns how many got it
Deliver = Callable[[str, str, Wire], Awaitable[int]]


class Tick:
    def __init__(
        self,
        *,
        node_id: str,
        period: float,
        store: Store,
        send: Send,
        deliver: Deliver,
        keyframe_every: int = 0,
    ) -> None:
        self.node_id = node_id
        self.period = period
        self.keyframe_every = keyframe_every  # ticks; 0: no keyframes
        self._store, self._send, self._deliver = store, send, deliver
        self._staged: dict[str, States] = {}  # local rooms -> states not yet taken by a tick
        self._due: dict[str, States] = {}  # local rooms -> states for the next delivery
        self._latest: dict[str, States] = {}  # local rooms -> each local player's latest state
        self._holders: dict[str, list[str]] = {}  # room -> nodes holding it (last store's answer)
        self._unpublished: Batch = {}
        self._unpublished_tick = 0
        self._publisher: asyncio.Task[None] | None = None
        self._peer_ticks: dict[str, int] = {}  # other node -> newest tick number it sent us
        self._peers_in: asyncio.Event | None = None  # set when the awaited batches are in
        self._gathering = 0  # the tick being gathered
        self.stopping = False

    # --- rooms and states ----------------------------------------------------------------------

    def open_room(self, room_id: str) -> None:
        self._staged.setdefault(room_id, {})
        self._due.setdefault(room_id, {})
        self._latest.setdefault(room_id, {})

    def close_room(self, room_id: str) -> None:
        self._staged.pop(room_id, None)
        self._due.pop(room_id, None)
        self._latest.pop(room_id, None)
        self._holders.pop(room_id, None)

    def remember(self, room_id: str, client_id: str, state: bytes) -> None:
        """A local player's state as it joined or resumed: keyframes carry it until it moves."""
        latest = self._latest.get(room_id)
        if latest is not None:
            latest[client_id] = state

    def latest(self, room_id: str, client_id: str) -> bytes | None:
        """A local player's newest state: staged for the next tick, else the last one sent."""
        staged = self._staged.get(room_id, {}).get(client_id)
        return staged if staged is not None else self._latest.get(room_id, {}).get(client_id)

    def stage(self, room_id: str, client_id: str, state: bytes) -> None:
        """Hot path (every Update): remember the latest state until the next tick. No I/O."""
        staged = self._staged.get(room_id)
        if staged is not None:
            staged[client_id] = state

    def forget(self, room_id: str, client_id: str) -> None:
        """A player left: no StateUpdate may mention it after its PlayerLeft."""
        self._staged.get(room_id, {}).pop(client_id, None)
        self._due.get(room_id, {}).pop(client_id, None)
        self._latest.get(room_id, {}).pop(client_id, None)

    def on_batch(self, node: str, tick: int, rooms: Mapping[str, list[tuple[str, bytes]]]) -> None:
        """Another process's states for tick `tick` (the channel layer's node.states)."""
        for room_id, players in rooms.items():
            due = self._due.get(room_id)
            if due is not None:
                due.update(players)
        metrics.PEER_BATCH_LAG.observe(time.time() - tick * self.period)
        if tick > self._peer_ticks.get(node, -1):
            self._peer_ticks[node] = tick
        if self._peers_in is not None and not self._awaiting(self._gathering):
            self._peers_in.set()

    # --- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        period = self.period
        deadline = (time.time() // period + 1) * period
        while not self.stopping:
            delay = deadline - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tick = round(deadline / period)  # the same number in every process (wall clock)
            # A late tick runs at once instead of skipping a beat; far behind, realign.
            deadline = max(deadline + period, (time.time() // period) * period)
            try:
                self.take(tick)
                await self.gather(tick)
                started = time.perf_counter()
                await self.deliver()
                metrics.TICK_SECONDS.observe(time.perf_counter() - started)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("tick failed")

    def take(self, tick: int) -> None:
        """The staged states (on a keyframe tick: every local player's latest) are due for
        delivery now; their publishing starts beside the tick."""
        self._unpublished_tick = tick
        keyframe = self.keyframe_every > 0 and tick % self.keyframe_every == 0
        for room_id, staged in self._staged.items():
            if staged:
                self._latest[room_id].update(staged)
                self._staged[room_id] = {}
            taken = self._latest[room_id] if keyframe else staged
            if taken:
                self._due[room_id].update(taken)
                self._unpublished.setdefault(room_id, {}).update(taken)
        if self._unpublished and (self._publisher is None or self._publisher.done()):
            self._publisher = asyncio.create_task(self._publish_pending())

    async def flush(self) -> None:
        """Shutdown: publish and deliver whatever is staged, now."""
        self.take(self._unpublished_tick)
        await self.published()
        await self.deliver()

    async def published(self) -> None:
        """Wait for the publishing in flight (tests, shutdown)."""
        if self._publisher is not None:
            await self._publisher

    async def _publish_pending(self) -> None:
        while self._unpublished and not self.stopping:
            batch, self._unpublished = self._unpublished, {}
            try:
                await self._publish(batch, self._unpublished_tick)
            except Exception:
                logger.exception("publishing a tick failed")

    async def _publish(self, batch: Batch, tick: int) -> None:
        # The other holders of each room as the previous tick's store answered: their batches
        # go out beside this tick's store, not after it; a holder the store names anew gets
        # its rooms right after (one more message that tick).
        known = {room_id: self._holders.get(room_id, []) for room_id in batch}
        holders, _ = await asyncio.gather(self._store(batch), self._send_to(batch, known, tick))
        for room_id, nodes in holders.items():
            if room_id in self._staged:  # still a local room
                self._holders[room_id] = nodes
        missed = {
            room_id: [node for node in nodes if node not in known[room_id]]
            for room_id, nodes in holders.items()
        }
        await self._send_to(batch, missed, tick)

    async def _send_to(self, batch: Batch, holders: Mapping[str, list[str]], tick: int) -> None:
        outgoing: dict[str, dict[str, list[tuple[str, bytes]]]] = {}
        for room_id, nodes in holders.items():
            for node in nodes:
                if node != self.node_id:
                    outgoing.setdefault(node, {})[room_id] = list(batch[room_id].items())
        if outgoing:
            await self._send(tick, outgoing)

    async def gather(self, tick: int) -> None:
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

    @property
    def peers(self) -> dict[str, int]:
        """Other processes this tick waits for: node -> newest tick number it sent."""
        return dict(self._peer_ticks)

    async def deliver(self) -> None:
        sent = 0
        for room_id, due in list(self._due.items()):
            if due:
                frame = protocol.state_update(room_id, self._unpublished_tick, list(due.items()))
                self._due[room_id] = {}
                sent += await self._deliver(room_id, frame, Wire(frame.encode()))
        metrics.OUT_STATE_UPDATE.inc(sent)
