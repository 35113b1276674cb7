"""Per-connection rate limits: token buckets for Updates and Chat, and the flood detector.

Hand-written on purpose: a bucket is a few float operations on the Update hot path (~0.3 µs),
where the `limits` library's async storage costs a lock and a dict lookup per hit.
"""

from __future__ import annotations

import time


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
