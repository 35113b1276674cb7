"""Outbox: the bounded queue of frames waiting for one client socket.

Frames go straight to the ASGI server while the socket is writable; once the server's transport
buffer is full (uvicorn pauses writing at its high-water mark and its `send` then blocks), frames
wait here, and past `limit` the client is cut off instead of growing memory or stalling its room.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import struct
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from signight.wsprotocol import MEM_LEVEL, WINDOW_BITS

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]


def text_frame(payload: bytes, *, compressed: bool = False) -> bytes:
    """A whole unmasked WebSocket text frame (RFC 6455 5.2); `compressed` sets RSV1 (RFC 7692)."""
    first = 0xC1 if compressed else 0x81
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


class Wire:
    """One server message framed once for every client of a room: plain, and (on first need)
    compressed without context takeover, which is what signight.wsprotocol negotiates."""

    __slots__ = ("_deflated", "payload", "plain")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.plain = text_frame(payload)
        self._deflated: bytes | None = None

    def deflated(self) -> bytes:
        if self._deflated is None:
            encoder = zlib.compressobj(wbits=-WINDOW_BITS, memLevel=MEM_LEVEL)
            data = encoder.compress(self.payload) + encoder.flush(zlib.Z_SYNC_FLUSH)
            if data.endswith(b"\x00\x00\xff\xff"):  # RFC 7692 7.2.1: drop the empty block
                data = data[:-4]
            self._deflated = text_frame(data, compressed=True)
        return self._deflated


class Outbox:
    __slots__ = (
        "_backlog",
        "_deflate",
        "_drainer",
        "_limit",
        "_on_overflow",
        "_protocol",
        "_send",
        "_writable",
        "closed",
    )

    def __init__(self, send: Send, *, limit: int, on_overflow: Callable[[], None]) -> None:
        self._send = send
        # uvicorn's websockets-sansio protocol exposes the event its `send` waits on; with any
        # other server we cannot see the buffer and let the backlog take every frame.
        protocol = getattr(send, "__self__", None)
        self._writable: asyncio.Event | None = getattr(protocol, "writable", None)
        # uvicorn's websockets-sansio protocol: shared frames can go straight to its transport.
        self._protocol = protocol if hasattr(protocol, "close_sent") else None
        self._deflate: bool | None = None  # permessage-deflate negotiated; known after handshake
        self._backlog: collections.deque[str] = collections.deque()
        self._drainer: asyncio.Task[None] | None = None
        self._limit = limit
        self._on_overflow = on_overflow
        self.closed = False

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    async def put(self, text: str, wire: Wire | None = None) -> None:
        """Queue a frame; never waits for a slow client (the hub loops over many of these).

        `wire` is the same frame already framed for every client, written as is when the socket
        is open and writable (no per-client framing or compression), else `text` takes the ASGI
        path.
        """
        if self.closed:
            return
        if (
            not self._backlog
            and self._drainer is None  # a frame being drained must not be overtaken
            and self._writable is not None
            and self._writable.is_set()
        ):
            protocol = self._protocol
            if (
                wire is not None
                and protocol is not None
                and protocol.handshake_complete
                and not protocol.close_sent
                and not protocol.transport.is_closing()
            ):
                deflate = self._deflate
                if deflate is None:
                    deflate = self._deflate = bool(getattr(protocol, "deflate", False))
                protocol.transport.write(wire.deflated() if deflate else wire.plain)
                return
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
                # Leave the frame queued while it is sent, so put() sees a backlog meanwhile.
                await self._send({"type": "websocket.send", "text": self._backlog[0]})
                if self._backlog:
                    self._backlog.popleft()
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
