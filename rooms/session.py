"""PlayerSession: one connected player (identity fixed at creation, or once by a Resume of an
anonymous player; its send queue, the room it plays in, its chats in flight) and Connection:
what the hub and the services may ask of a socket.

Written by the services only (room_join sets the room and name, room_leave clears them); the
held-events gate of a joiner belongs to the hub (rooms.hub.Member).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from rooms.outbox import Outbox
from rooms.protocol import ErrorCode
from signight.errors import DomainError


class Chain:
    """Background work run one piece at a time, in the order submitted (a player's chats: a
    slow database delays its chats, never its Updates, and they keep their order)."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail: asyncio.Task[None] | None = None

    def submit(self, work: Callable[[], Awaitable[None]]) -> None:
        self._tail = asyncio.get_running_loop().create_task(self._after(self._tail, work))

    @staticmethod
    async def _after(
        previous: asyncio.Task[None] | None, work: Callable[[], Awaitable[None]]
    ) -> None:
        if previous is not None:
            await previous
        await work()

    async def settle(self) -> None:
        """Wait until everything submitted so far is done."""
        tail, self._tail = self._tail, None
        if tail is not None:
            await tail


class PlayerSession:
    __slots__ = (
        "_authenticated",
        "_client_id",
        "_connection_id",
        "_token_name",
        "chats",
        "color",
        "connected_at",
        "name",
        "outbox",
        "resume_sid",
        "room_id",
        "room_pk",
        "token_expires_at",
        "token_warned",
    )

    def __init__(
        self,
        *,
        client_id: str,
        outbox: Outbox,
        authenticated: bool = False,
        token_name: str | None = None,
        token_expires_at: float | None = None,
    ) -> None:
        self._client_id = client_id
        self._connection_id = uuid.uuid4().hex
        self._authenticated = authenticated
        self._token_name = token_name
        self.outbox = outbox
        self.connected_at = time.time()  # Unix seconds (the live rooms page: connection age)
        self.chats = Chain()
        self.name: str | None = None  # the name it plays under: the token's, else its Join's
        self.color = "#FFFFFF"  # its latest colour (an Update without one keeps it)
        self.room_id: str | None = None
        self.room_pk: object | None = None  # the Room's primary key, so chat skips a lookup
        self.resume_sid = ""  # the session its latest resume token names (rooms.tokens)
        # When its JWT expires (Unix seconds; None: no token), moved on by a Refresh; warned:
        # TokenExpiring was sent for this expiry.
        self.token_expires_at = token_expires_at
        self.token_warned = False

    @property
    def client_id(self) -> str:
        """From the token's subject (the same on every connection), else random per socket."""
        return self._client_id

    def adopt(self, client_id: str) -> None:
        """An anonymous socket that resumed plays the player its resume token names."""
        if self._authenticated:
            raise ValueError("an authenticated session keeps its token's client_id")
        self._client_id = client_id

    @property
    def connection_id(self) -> str:
        """This connection's own id: with the node's, it names the owner of the player."""
        return self._connection_id

    @property
    def authenticated(self) -> bool:
        """The client_id comes from a token (the same player may connect again elsewhere)."""
        return self._authenticated

    @property
    def token_name(self) -> str | None:
        return self._token_name

    def require_room(self, doing: str) -> str:
        """The room this player is in, or DomainError not_in_room."""
        if self.room_id is None:
            raise DomainError(f"join a room before {doing}", code=ErrorCode.NOT_IN_ROOM)
        return self.room_id

    async def send(self, text: str) -> None:
        await self.outbox.put(text)


class Connection(Protocol):
    """A client socket as the hub and the services see it (rooms.consumers.GameConsumer)."""

    @property
    def session(self) -> PlayerSession: ...

    @property
    def last_seen(self) -> float: ...  # time.monotonic() of its latest message

    async def close_with(self, code: int, reason: str = "") -> None: ...
