"""The nodes: this server process's registration in Redis (its channel and heartbeat), the
channels of the others (where tick batches go), reaping the players of processes that died, and
noticing that Redis lost its data.

A process whose heartbeat key expires (PRESENCE_TTL_SECONDS) is dead; one live process wins the
right to reap it and leaves each of its players away through `abandon` (they may resume on
another process within the grace; rooms.hub.expire_away removes those that do not).
Each heartbeat also reads Redis' epoch (presence.node_register): a new one means the data is
gone, and `heal` puts this process's players back.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from rooms import broadcast, presence
from signight.errors import BACKING_SERVICE_ERRORS

logger = logging.getLogger(__name__)

REAP_INTERVAL = 1.0  # cheap (two round trips): a crashed process's players go away soon
REAP_CLAIM_SECONDS = 30

# room_id, client_id, node_id -> whether the player went away (it was that node's)
Abandon = Callable[[str, str, str], Awaitable[bool]]
# Redis lost its data: put this process's players back; returns how many
Heal = Callable[[], Awaitable[int]]


class Nodes:
    def __init__(self, *, node_id: str, ttl: int, abandon: Abandon, heal: Heal) -> None:
        self.node_id = node_id
        self.channel: str | None = None
        self.epoch: str | None = None
        self._ttl = ttl
        self._abandon = abandon
        self._heal = heal
        self._channels: dict[str, str] = {}  # other node -> its channel (cached)
        self._last_beat = self._last_reap = time.monotonic()
        self.outage_since: float | None = None  # the first heartbeat Redis did not answer

    async def register(self) -> str:
        """Open this process's channel and announce it; returns the channel."""
        self.channel = await broadcast.node_channel()
        await self.heartbeat()
        return self.channel

    async def heartbeat(self) -> None:
        assert self.channel is not None
        known = self.epoch
        try:
            self.epoch = await presence.node_register(
                node_id=self.node_id, channel=self.channel, ttl=self._ttl, epoch=uuid.uuid4().hex
            )
        except BACKING_SERVICE_ERRORS:
            if self.outage_since is None:
                self.outage_since = time.monotonic()
            raise
        self.outage_since = None
        if known is not None and self.epoch != known:
            healed = await self._heal()
            logger.warning(
                "Redis lost its data (new epoch): %d players of this process put back", healed
            )

    async def forget(self) -> None:
        await presence.node_forget(self.node_id)

    async def maintain(self, now: float) -> None:
        """Called about once a second: heartbeat every ttl/3 s, reap every REAP_INTERVAL s."""
        if now - self._last_beat >= max(1.0, self._ttl / 3):
            self._last_beat = now
            await self.heartbeat()
        if now - self._last_reap >= REAP_INTERVAL:
            self._last_reap = now
            await self.reap()

    async def _channel_of(self, node_id: str) -> str | None:
        if node_id not in self._channels:
            self._channels = await presence.node_channels()
        return self._channels.get(node_id)

    async def send_replace(self, node_id: str, *, client_id: str, connection_id: str) -> bool:
        """Ask another process to close its connection of this player (4410). False if that
        process is not registered (gone: its reaper-side cleanup is conditional anyway)."""
        channel = await self._channel_of(node_id)
        if channel is None:
            return False
        await broadcast.replace(channel, client_id=client_id, connection_id=connection_id)
        return True

    async def send_states(
        self, tick: int, outgoing: dict[str, dict[str, list[tuple[str, bytes]]]]
    ) -> None:
        """One message per other node with its shared rooms' states for tick `tick`."""
        if any(node not in self._channels for node in outgoing):
            self._channels = await presence.node_channels()
        channels = self._channels
        await asyncio.gather(
            *(
                broadcast.states(channels[node], node_id=self.node_id, tick=tick, rooms=rooms)
                for node, rooms in outgoing.items()
                if node in channels
            )
        )

    async def reap(self) -> int:
        """Leave the players of processes whose heartbeat expired away; returns how many."""
        reaped = 0
        # Its group subscriptions ended with its Redis connection (pub/sub channel layer).
        for node_id in await presence.nodes_dead():
            if node_id == self.node_id:
                continue
            if not await presence.node_claim_reap(node_id, ttl=REAP_CLAIM_SECONDS):
                continue
            abandoned = 0
            for client_id, room_id in await presence.node_clients(node_id):
                if await self._abandon(room_id, client_id, node_id):
                    abandoned += 1
            await presence.node_forget(node_id)
            # A process that stopped cleanly left nothing: expected, not a warning.
            level = logging.WARNING if abandoned else logging.INFO
            logger.log(level, "reaped dead node %s: %d players away", node_id, abandoned)
            reaped += abandoned
        return reaped
