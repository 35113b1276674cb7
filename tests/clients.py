"""The socket clients of every test: `Socket` (in process, Channels' WebsocketCommunicator),
`LiveSocket` (a real server, the `websockets` library) and `RawSocket` (a real server, frames by
hand); `Players` and `LivePlayers` open them for one test and close them all at its end.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar

import websockets
from channels.testing import WebsocketCommunicator

from signight.asgi import application
from tests import frames

STATE = {"name": "p", "color": "#00FF00", "position": [1, 2, 3], "rotation": [1, 0, 0, 0]}
"""A player state every server accepts: the body of an Update."""

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


def strict_json(text: str | bytes) -> Any:
    """json.loads that refuses what is not interoperable JSON: NaN, Infinity and 1e999."""

    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    def finite(number: str) -> float:
        value = float(number)
        if value in (float("inf"), float("-inf")):
            raise ValueError(f"number out of range: {number}")
        return value

    return json.loads(text, parse_constant=refuse, parse_float=finite)


class GameClient(abc.ABC):
    """What a client says and hears (docs/protocol.md), whatever carries its frames.

    A transport gives `send_text` and `recv`; `recv_type` may skip frames of the types in
    `SKIPPABLE` on the way to the one it waits for (None: any frame).
    """

    TIMEOUT: ClassVar[float]
    SKIPPABLE: ClassVar[frozenset[str] | None]

    def __init__(self) -> None:
        self.client_id: str | None = None

    @abc.abstractmethod
    async def send_text(self, text: str) -> None: ...

    @abc.abstractmethod
    async def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """The next frame, parsed; TimeoutError after `timeout` seconds (default TIMEOUT)."""

    async def send(self, message: Any) -> None:
        await self.send_text(json.dumps(message, ensure_ascii=False))

    async def recv_type(
        self, kind: str, timeout: float | None = None, **match: Any
    ) -> dict[str, Any]:
        """The next frame of this type (with these fields), within `timeout` seconds in all."""

        def wanted(frame: dict[str, Any]) -> bool:
            return frame["type"] == kind and all(frame.get(k) == v for k, v in match.items())

        return await self._next(wanted, {kind}, timeout)

    async def recv_first(self, *kinds: str, timeout: float | None = None) -> dict[str, Any]:
        """The next frame of any of these types (e.g. "Pong", "Error": whichever the server
        answers with), skipping others as recv_type does."""
        return await self._next(lambda frame: frame["type"] in kinds, set(kinds), timeout)

    async def _next(
        self, wanted: Callable[[dict[str, Any]], bool], kinds: set[str], timeout: float | None
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.TIMEOUT if timeout is None else timeout)
        while True:
            frame = await self.recv(max(deadline - loop.time(), 0.01))
            if wanted(frame):
                return frame
            skippable = self.SKIPPABLE is None or frame["type"] in {*kinds, *self.SKIPPABLE}
            assert skippable, f"expected {sorted(kinds)}, got {frame}"

    async def join(self, room_id: str, name: str = "p", color: str = "#00FF00") -> dict[str, Any]:
        """Join the room; the Welcome. `client_id` is the one the Welcome gives."""
        await self.send({"type": "Join", "room_id": room_id, "name": name, "color": color})
        welcome = await self.recv_type("Welcome")
        self.client_id = welcome["client_id"]
        return welcome

    async def ping(self, t: Any = "alive") -> None:
        """The connection is open and answers: a Ping gets its Pong."""
        await self.send({"type": "Ping", "t": t})
        assert await self.recv_type("Pong") == frames.pong(t)


class Socket(GameClient):
    """One game socket in this process through Channels' communicator, seen event by event.

    `client` is the peer address the ASGI server would report (Channels' communicator sets none);
    `origin` and `bearer` become the Origin and Authorization headers. recv_type skips only
    StateUpdates: any other frame before the awaited one fails the test.
    """

    TIMEOUT = 5
    SKIPPABLE = frozenset({"StateUpdate"})

    def __init__(
        self,
        path: str = "/ws/",
        *,
        origin: str | None = None,
        bearer: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        subprotocols: list[str] | None = None,
        client: tuple[str, int] = ("127.0.0.1", 40000),
    ) -> None:
        super().__init__()
        headers = list(headers or [])
        if origin is not None:
            headers.append((b"origin", origin.encode("latin-1")))
        if bearer is not None:
            headers.append((b"authorization", f"Bearer {bearer}".encode("latin-1")))
        self.comm = WebsocketCommunicator(
            application, path, headers=headers, subprotocols=subprotocols
        )
        self.comm.scope["client"] = client  # the app starts lazily, on the first event
        self.subprotocol: str | None = None
        self.opened = self.disconnected = False

    async def open(self) -> str | None:
        """Connect; the server always accepts the handshake. Returns the selected subprotocol."""
        self.opened = True
        accepted, subprotocol = await self.comm.connect(timeout=5)
        assert accepted, f"closed before accept: {subprotocol}"
        self.subprotocol = subprotocol
        return subprotocol

    async def send_text(self, text: str) -> None:
        await self.comm.send_input({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self.comm.send_input({"type": "websocket.receive", "bytes": data})

    async def event(self, timeout: float | None = None) -> dict[str, Any]:
        """The next ASGI event from the server: websocket.send or websocket.close.

        Unlike the communicator's receive_output, a timeout leaves the consumer running, so that
        the close at the end of the test still runs its leave (a cancelled one never does).
        """
        future = self.comm.future
        if future.done():
            future.result()  # the consumer's exception, if it died
        try:
            async with asyncio.timeout(self.TIMEOUT if timeout is None else timeout):
                return await self.comm.output_queue.get()
        except TimeoutError:
            if future.done():
                future.result()
            raise

    async def recv(self, timeout: float | None = None) -> dict[str, Any]:
        event = await self.event(timeout)
        assert event["type"] == "websocket.send", f"expected a frame, got {event}"
        assert "text" in event and event.get("bytes") is None, "the server sends text frames only"
        return strict_json(event["text"])

    async def closed(self, timeout: float | None = None) -> dict[str, Any]:
        """The close event that must come next (StateUpdates before it are skipped)."""
        timeout = self.TIMEOUT if timeout is None else timeout
        while True:
            try:
                event = await self.event(timeout)
            except TimeoutError:
                raise AssertionError(f"the socket is still open after {timeout}s") from None
            if event["type"] == "websocket.close":
                return {"code": event.get("code", 1000), "reason": event.get("reason", "")}
            frame = strict_json(event["text"])
            assert frame["type"] == "StateUpdate", f"expected a close, got {frame}"

    async def nothing_more(self, timeout: float = 0.3) -> bool:
        """True when the server sends nothing for `timeout` seconds."""
        return await self.comm.receive_nothing(timeout=timeout)

    async def close(self, code: int = 1000) -> None:
        """The client's side of the close (its leave runs); once, and only if it was opened."""
        if not self.opened or self.disconnected:
            return
        self.disconnected = True
        if self.comm.future.cancelled():  # a receive timed out, and the communicator cancelled it
            return
        await self.comm.disconnect(code=code, timeout=5)

    async def drop(self) -> None:
        """The connection is lost (1006, as the ASGI server reports a dropped TCP connection):
        the player goes away, resumable."""
        await self.close(1006)


class LiveSocket(GameClient):
    """A game client on a real socket to a server process (the `websockets` library).

    recv_type skips any frame before the awaited one: a real room also sends what a test does not
    wait for (PlayerJoined of the others, Chats, Pongs).
    """

    TIMEOUT = 10
    SKIPPABLE = None

    def __init__(self, ws: websockets.ClientConnection) -> None:
        super().__init__()
        self.ws = ws

    @classmethod
    async def connect(cls, url: str, **options: Any) -> LiveSocket:
        """Connect to `url`; `options` go to websockets.connect (compression off unless asked)."""
        options.setdefault("compression", None)
        options.setdefault("open_timeout", 10)
        return cls(await websockets.connect(url, **options))

    async def send_text(self, text: str) -> None:
        await self.ws.send(text)

    async def recv(self, timeout: float | None = None) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), self.TIMEOUT if timeout is None else timeout)
        assert isinstance(raw, str), "the server sends text frames only"
        return strict_json(raw)

    async def close(self) -> None:
        await self.ws.close()


class Closed(Exception):
    """The server closed the TCP connection (reset or EOF) without a close frame."""


class RawSocket:
    """A WebSocket client on a bare, blocking TCP socket: the handshake and framing by hand, for
    what a library will not do (tiny receive buffers, invalid frames, no reading at all)."""

    def __init__(
        self,
        port: int,
        path: str = "/ws/",
        *,
        rcvbuf: int | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the window offered to the server is small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        assert head.startswith("HTTP/1.1 101"), head
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        assert {k.lower(): v for k, v in fields.items()}["sec-websocket-accept"] == accept, head

    def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                raise Closed("connection reset") from None
            if not chunk:
                raise Closed("connection closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed("connection closed during the handshake")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def send_frame(self, payload: bytes, *, opcode: int = 0x1, fin: bool = True) -> None:
        first = (0x80 if fin else 0) | opcode
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", first, 0x80 | length)
        elif length < 2**16:
            header = struct.pack("!BBH", first, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_json(self, message: dict[str, Any]) -> None:
        self.send_frame(json.dumps(message).encode())

    def recv_frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        return first & 0x0F, self._read(length)

    def close_code(self) -> int:
        """Read (and drop) frames until the close frame; its code. Raises Closed on a reset/EOF."""
        while True:
            opcode, payload = self.recv_frame()
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def close(self) -> None:
        self.sock.close()


# --- one test's clients, all closed at its end -------------------------------------------------


async def _close_each(closings: Iterable[Awaitable[None]]) -> None:
    """Await every close, even after one fails; then raise the first failure."""
    errors: list[Exception] = []
    for closing in closings:
        try:
            await closing
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


class Players:
    """In-process sockets of one test (the `players` fixture, which closes every one)."""

    def __init__(self) -> None:
        self.sockets: list[Socket] = []

    async def connect(self, path: str = "/ws/", **options: Any) -> Socket:
        """An open Socket (`options` are Socket's); its handshake was accepted."""
        socket = Socket(path, **options)
        self.sockets.append(socket)
        await socket.open()
        return socket

    async def close_all(self) -> None:
        await _close_each(socket.close() for socket in self.sockets)


class LivePlayers:
    """Clients of one test on real server processes (the `live_players` fixture closes them)."""

    def __init__(self) -> None:
        self.sockets: list[LiveSocket] = []
        self.raw_sockets: list[RawSocket] = []

    async def connect(self, url: str, **options: Any) -> LiveSocket:
        socket = await LiveSocket.connect(url, **options)
        self.sockets.append(socket)
        return socket

    def raw(self, port: int, path: str = "/ws/", **options: Any) -> RawSocket:
        """A RawSocket past its handshake (`options` are RawSocket's)."""
        socket = RawSocket(port, path, **options)
        self.raw_sockets.append(socket)
        return socket

    async def close_all(self) -> None:
        for raw in self.raw_sockets:
            raw.close()
        # Concurrently: a test may leave hundreds, each waiting for its closing handshake.
        results = await asyncio.gather(
            *(socket.close() for socket in self.sockets), return_exceptions=True
        )
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            raise errors[0]
