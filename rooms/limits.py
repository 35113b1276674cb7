"""Per-connection rate limits: token buckets for Updates, Chats, and Joins with Leaves, the flood
detector, and the Guard that combines them into one verdict per message (the consumer only
carries it out).

Hand-written on purpose: a bucket is a few float operations on the Update hot path (~0.3 µs),
where the `limits` library's async storage costs a lock and a dict lookup per hit.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from django.conf import settings

from rooms import protocol


class TokenBucket:
    __slots__ = ("_capacity", "_rate", "_stamp", "_tokens")

    def __init__(self, *, rate: float, capacity: float) -> None:
        self._rate = rate  # tokens per second
        self._capacity = capacity
        self._tokens = capacity
        self._stamp = time.monotonic()

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class FloodGuard:
    """Tracks how long a client has been over its limits without a quiet second in between."""

    __slots__ = ("_close_after", "_last", "_since")

    def __init__(self, *, close_after: float) -> None:
        self._close_after = close_after
        self._since: float | None = None
        self._last = 0.0

    def flooding(self, now: float) -> bool:
        """Record a message over a flood limit: has this gone on for `close_after` seconds?"""
        if self._since is None or now - self._last > 1.0:
            self._since = now
        self._last = now
        return now - self._since >= self._close_after


class Notice:
    """At most one notice per `period` seconds (an Update over its rate is told, not each)."""

    __slots__ = ("_last", "_period")

    def __init__(self, period: float) -> None:
        self._period = period
        self._last = -1e9

    def due(self, now: float) -> bool:
        if now - self._last >= self._period:
            self._last = now
            return True
        return False


class Action(enum.Enum):
    ALLOW = "allow"
    DROP = "drop"  # refused quietly (an Update over its rate; told once per NOTICE_SECONDS)
    REFUSE = "refuse"  # refused with an Error rate_limited carrying `reason`
    CLOSE = "close"  # flooding for WS_FLOOD_CLOSE_SECONDS: close 4429


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reason: str = ""


ALLOW = Verdict(Action.ALLOW)
DROP = Verdict(Action.DROP)
CLOSE = Verdict(Action.CLOSE, "flooding")

# An Update bucket holds this many seconds of the rate: frames that arrive bunched (a mobile
# radio waking up, a server that read late) are all taken.
UPDATE_BURST_SECONDS = 2.0
# Updates over the rate are dropped; only a rate above FLOOD_FACTOR x WS_UPDATE_RATE, kept up
# for WS_FLOOD_CLOSE_SECONDS, closes the socket.
FLOOD_FACTOR = 2.0
NOTICE_SECONDS = 10.0


class RecentRooms:
    """The distinct rooms a socket joined in the last minute, at most `limit`: a Join of another
    room beyond it is refused (a Join of one of them again is not)."""

    __slots__ = ("_joined", "_limit")
    WINDOW = 60.0

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._joined: dict[str, float] = {}  # room -> when last joined

    def allow(self, room_id: str, now: float) -> bool:
        for old in [r for r, at in self._joined.items() if now - at >= self.WINDOW]:
            del self._joined[old]
        if room_id not in self._joined and len(self._joined) >= self._limit:
            return False
        self._joined[room_id] = now
        return True


class Guard:
    """The rate limits of one socket: Updates, Chats, and Joins with Leaves have buckets, and the
    distinct rooms joined a minute are counted; Pings pass. Updates over the rate are dropped
    (told once per NOTICE_SECONDS); a refused Chat, Join or Leave is always told."""

    __slots__ = (
        "_chat",
        "_flood",
        "_joins",
        "_notice",
        "_rooms",
        "_rooms_reason",
        "_update_reason",
        "_updates",
        "_within",
    )

    def __init__(
        self,
        *,
        update_rate: float,
        chat_rate: float,
        chat_period: float,
        chat_burst: float,
        join_rate: float,
        join_burst: float,
        flood_close_seconds: float,
        rooms_per_minute: int = 10,
    ) -> None:
        burst = update_rate * UPDATE_BURST_SECONDS
        self._updates = TokenBucket(rate=update_rate, capacity=burst)
        flood_rate = update_rate * FLOOD_FACTOR
        self._within = TokenBucket(rate=flood_rate, capacity=flood_rate * UPDATE_BURST_SECONDS)
        self._chat = TokenBucket(rate=chat_rate / chat_period, capacity=chat_burst)
        self._joins = TokenBucket(rate=join_rate, capacity=join_burst)
        self._rooms = RecentRooms(rooms_per_minute)
        self._flood = FloodGuard(close_after=flood_close_seconds)
        self._notice = Notice(NOTICE_SECONDS)
        self._rooms_reason = f"more than {rooms_per_minute} rooms joined in a minute"
        self._update_reason = (
            f"more than {update_rate:g} Updates per second: the extra ones are dropped"
        )

    @classmethod
    def from_settings(cls) -> Guard:
        return cls(
            update_rate=settings.WS_UPDATE_RATE,
            chat_rate=settings.WS_CHAT_RATE,
            chat_period=settings.WS_CHAT_PERIOD,
            chat_burst=settings.WS_CHAT_BURST,
            join_rate=settings.WS_JOIN_RATE,
            join_burst=settings.WS_JOIN_BURST,
            flood_close_seconds=settings.WS_FLOOD_CLOSE_SECONDS,
            rooms_per_minute=settings.WS_ROOMS_PER_MINUTE,
        )

    def check(self, message: protocol.Message, now: float) -> Verdict:
        kind = type(message)
        if kind is protocol.Update:
            return self._update(now)
        if kind is protocol.Chat:
            return self._refuse(self._chat, now, "chat rate limit reached")
        if kind in _JOINS_BUCKET:
            verdict = self._refuse(self._joins, now, "too many Joins and Leaves")
            if verdict is ALLOW and kind is protocol.Join:
                assert isinstance(message, protocol.Join)
                if not self._rooms.allow(message.room_id, now):
                    return Verdict(Action.REFUSE, self._rooms_reason)
            return verdict
        return ALLOW

    def _update(self, now: float) -> Verdict:
        within = self._within.take(now)  # counts every Update, so it measures the real rate
        if self._updates.take(now):
            return ALLOW
        if not within and self._flood.flooding(now):
            return CLOSE
        return Verdict(Action.REFUSE, self._update_reason) if self._notice.due(now) else DROP

    def _refuse(self, bucket: TokenBucket, now: float, reason: str) -> Verdict:
        if bucket.take(now):
            return ALLOW
        return CLOSE if self._flood.flooding(now) else Verdict(Action.REFUSE, reason)


# The messages that share the Joins bucket (WS_JOIN_RATE, WS_JOIN_BURST): each costs a script in
# Redis, or (Refresh) a signature check.
_JOINS_BUCKET = frozenset({protocol.Join, protocol.Leave, protocol.Resume, protocol.Refresh})
