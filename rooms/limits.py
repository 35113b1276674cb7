"""Per-connection rate limits: token buckets for Updates and Chat, the flood detector, and the
Guard that combines them into one verdict per message (the consumer only carries it out).

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

    __slots__ = ("_close_after", "_last", "_last_notice", "_since")

    def __init__(self, *, close_after: float) -> None:
        self._close_after = close_after
        self._since: float | None = None
        self._last = 0.0
        self._last_notice = -1e9

    def limited(self, now: float) -> tuple[bool, bool]:
        """Record a refused message: (tell the client now?, close it for flooding?)."""
        if self._since is None or now - self._last > 1.0:
            self._since = now
        self._last = now
        notify = now - self._last_notice >= 1.0
        if notify:
            self._last_notice = now
        return notify, now - self._since >= self._close_after


class Action(enum.Enum):
    ALLOW = "allow"
    DROP = "drop"  # refused quietly (an Update over its rate, told at most once a second)
    REFUSE = "refuse"  # refused with an Error rate_limited carrying `reason`
    CLOSE = "close"  # flooding for WS_FLOOD_CLOSE_SECONDS: close 4429


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reason: str = ""


ALLOW = Verdict(Action.ALLOW)
DROP = Verdict(Action.DROP)
CLOSE = Verdict(Action.CLOSE, "flooding")


class Guard:
    """The rate limits of one socket: Updates and Chats have buckets; other messages pass."""

    __slots__ = ("_buckets", "_flood", "_update_reason")

    def __init__(
        self,
        *,
        update_rate: float,
        chat_rate: float,
        chat_period: float,
        chat_burst: float,
        flood_close_seconds: float,
    ) -> None:
        self._buckets: dict[type, TokenBucket] = {
            protocol.Update: TokenBucket(rate=update_rate, capacity=update_rate),
            protocol.Chat: TokenBucket(rate=chat_rate / chat_period, capacity=chat_burst),
        }
        self._flood = FloodGuard(close_after=flood_close_seconds)
        self._update_reason = f"more than {update_rate:g} Updates per second"

    @classmethod
    def from_settings(cls) -> Guard:
        return cls(
            update_rate=settings.WS_UPDATE_RATE,
            chat_rate=settings.WS_CHAT_RATE,
            chat_period=settings.WS_CHAT_PERIOD,
            chat_burst=settings.WS_CHAT_BURST,
            flood_close_seconds=settings.WS_FLOOD_CLOSE_SECONDS,
        )

    def check(self, message: protocol.Message, now: float) -> Verdict:
        bucket = self._buckets.get(type(message))
        if bucket is None or bucket.take(now):
            return ALLOW
        notify, close = self._flood.limited(now)
        if close:
            return CLOSE
        if type(message) is protocol.Chat:  # a refused chat is always told: it is lost
            return Verdict(Action.REFUSE, "chat rate limit reached")
        return Verdict(Action.REFUSE, self._update_reason) if notify else DROP
