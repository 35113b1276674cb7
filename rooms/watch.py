"""What this process knows of its backing services between requests: the channel layer's
self-probe (a message to its own channel each second; none back for PROBE_DEADLINE seconds
means the subscribed connection is deaf: readiness fails and the subscriber is reconnected),
MongoDB pings, and how long an outage has lasted (rooms.hub closes sockets with 1013 past
BACKEND_OUTAGE_CLOSE_SECONDS).
"""

from __future__ import annotations

import asyncio
import logging
import time

from rooms import broadcast
from signight import health

logger = logging.getLogger(__name__)

PROBE_DEADLINE = 3.0
MONGODB_CHECK_INTERVAL = 2.0  # seconds between MongoDB pings


class Watch:
    def __init__(self) -> None:
        self.deaf = False  # probes stopped arriving (readiness fails until they arrive again)
        self.mongodb_down_since: float | None = None
        self._probe_seen = self._resubscribed = time.monotonic()
        self._mongodb_checked = 0.0
        self._sending: asyncio.Task[None] | None = None

    def start(self, now: float) -> None:
        self._probe_seen, self.deaf = now, False

    def stop(self) -> None:
        if self._sending is not None:
            self._sending.cancel()

    def probe_arrived(self, now: float) -> None:
        self._probe_seen = now
        if self.deaf:
            self.deaf = False
            logger.warning("channel layer: probes arrive again")

    async def probe(self, channel: str, now: float) -> None:
        """Check that the last probe came back, and send the next one beside the caller (a
        send stuck on a silent connection must not hold up the next check)."""
        if now - self._probe_seen > PROBE_DEADLINE:
            if not self.deaf:
                logger.warning(
                    "channel layer: no probe came back for %.1f s; reconnecting the subscriber",
                    now - self._probe_seen,
                )
            self.deaf = True
            if now - self._resubscribed > PROBE_DEADLINE:
                self._resubscribed = now
                await broadcast.reconnect_subscriber()
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._send(channel))

    async def _send(self, channel: str) -> None:
        try:
            await broadcast.probe(channel)
        except Exception as exc:
            logger.info("channel layer: a probe could not be sent: %s", exc)

    async def mongodb(self, now: float) -> None:
        """Ping MongoDB every MONGODB_CHECK_INTERVAL s; note when an outage began and ended."""
        if now - self._mongodb_checked < MONGODB_CHECK_INTERVAL:
            return
        self._mongodb_checked = now
        try:
            up = await asyncio.to_thread(health.mongodb_up)
        except Exception as exc:
            up = False
            if self.mongodb_down_since is None:
                logger.warning("MongoDB unavailable: %s", exc)
        if up and self.mongodb_down_since is not None:
            logger.warning("MongoDB answers again after %.0f s", now - self.mongodb_down_since)
        self.mongodb_down_since = None if up else (self.mongodb_down_since or now)

    def longest_outage(self, redis_down_since: float | None, now: float) -> tuple[str, float]:
        """("Redis" or "MongoDB", seconds down) of the longer outage; 0 s if neither is down."""
        outages = {"Redis": redis_down_since, "MongoDB": self.mongodb_down_since}
        down = {name: now - since for name, since in outages.items() if since is not None}
        return max(down.items(), key=lambda item: item[1], default=("", 0.0))
