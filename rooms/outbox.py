"""Outbox: the bounded queue of frames waiting for one client socket.

Frames go straight to the ASGI server while the socket is writable; once the server's transport
buffer is full (uvicorn pauses writing at its high-water mark and its `send` then blocks), frames
wait here, and past `limit` the client is cut off instead of growing memory or stalling its room.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Outbox:
    __slots__ = ("_backlog", "_drainer", "_limit", "_on_overflow", "_send", "_writable", "closed")

    def __init__(self, send: Send, *, limit: int, on_overflow: Callable[[], None]) -> None:
        self._send = send
        # uvicorn's websockets-sansio protocol exposes the event its `send` waits on; with any
        # other server we cannot see the buffer and let the backlog take every frame.
        self._writable: asyncio.Event | None = getattr(
            getattr(send, "__self__", None), "writable", None
        )
        self._backlog: collections.deque[str] = collections.deque()
        self._drainer: asyncio.Task[None] | None = None
        self._limit = limit
        self._on_overflow = on_overflow
        self.closed = False

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    async def put(self, text: str) -> None:
        """Queue a frame; never waits for a slow client (the hub loops over many of these)."""
        if self.closed:
            return
        if not self._backlog and self._writable is not None and self._writable.is_set():
            try:
                await self._send({"type": "websocket.send", "text": text})
            except Exception:  # the client is gone; its disconnect event follows
                self.closed = True
            return
        self._backlog.append(text)
        if len(self._backlog) > self._limit:
            self.close()
            self._on_overflow()
        elif self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._backlog and not self.closed:
                await self._send({"type": "websocket.send", "text": self._backlog.popleft()})
        except Exception:
            self.closed = True
        finally:
            self._drainer = None

    def close(self) -> None:
        self.closed = True
        self._backlog.clear()
        if self._drainer is not None:
            self._drainer.cancel()
            self._drainer = None
