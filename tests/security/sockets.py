"""Helpers for the security tests: a socket that shows every event the server sends (close frames
included) from a chosen client address, and tokens good and bad.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import override_settings

from rooms.protocol import ErrorCode
from signight import auth
from signight.asgi import application

STATE = {"name": "p", "color": "#00FF00", "position": [1, 2, 3], "rotation": [1, 0, 0, 0]}
ERROR_CODES = frozenset(code.value for code in ErrorCode)
JWT_SECRET = "signight-security-tests-hs256-secret-0123456789"  # for real servers: 48 bytes
# The in-process settings keep the development JWT_SECRET (23 bytes, below RFC 7518's 32), and
# PyJWT warns on every use of it; modules that sign or verify in-process ignore that warning.
SHORT_DEV_SECRET = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def strict_json(text: str) -> Any:
    """json.loads that refuses what is not interoperable JSON: NaN, Infinity and 1e999."""

    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    def finite(number: str) -> float:
        value = float(number)
        if value in (float("inf"), float("-inf")):
            raise ValueError(f"number out of range: {number}")
        return value

    return json.loads(text, parse_constant=refuse, parse_float=finite)


class Socket:
    """One game socket through Channels' communicator, seen frame by frame.

    `client` is the peer address the ASGI server would report (Channels' communicator sets none);
    `origin` and `bearer` become the Origin and Authorization headers.
    """

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
        headers = list(headers or [])
        if origin is not None:
            headers.append((b"origin", origin.encode("latin-1")))
        if bearer is not None:
            headers.append((b"authorization", f"Bearer {bearer}".encode("latin-1")))
        self.comm = WebsocketCommunicator(
            application, path, headers=headers, subprotocols=subprotocols
        )
        self.comm.scope["client"] = client  # the app starts lazily, on the first event
        self.client_id: str | None = None

    async def open(self) -> str | None:
        """Connect; the server always accepts the handshake. Returns the selected subprotocol."""
        accepted, subprotocol = await self.comm.connect(timeout=5)
        assert accepted, f"closed before accept: {subprotocol}"
        return subprotocol

    async def send(self, message: Any) -> None:
        await self.send_text(json.dumps(message, ensure_ascii=False))

    async def send_text(self, text: str) -> None:
        await self.comm.send_input({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self.comm.send_input({"type": "websocket.receive", "bytes": data})

    async def event(self, timeout: float = 5) -> dict[str, Any]:
        """The next ASGI event from the server: websocket.send or websocket.close."""
        return await self.comm.receive_output(timeout)

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        event = await self.event(timeout)
        assert event["type"] == "websocket.send", f"expected a frame, got {event}"
        assert "text" in event and event.get("bytes") is None, "the server sends text frames only"
        return strict_json(event["text"])

    async def recv_type(self, kind: str, timeout: float = 5) -> dict[str, Any]:
        """The next frame of this type; StateUpdates before it are skipped."""
        while True:
            frame = await self.recv(timeout)
            if frame["type"] == kind:
                return frame
            assert frame["type"] == "StateUpdate", frame

    async def closed(self, timeout: float = 5) -> dict[str, Any]:
        """The close event that must come next (StateUpdates before it are skipped)."""
        while True:
            try:
                event = await self.event(timeout)
            except TimeoutError:
                raise AssertionError(f"the socket is still open after {timeout}s") from None
            if event["type"] == "websocket.close":
                return {"code": event.get("code", 1000), "reason": event.get("reason", "")}
            frame = strict_json(event["text"])
            assert frame["type"] == "StateUpdate", f"expected a close, got {frame}"

    async def silent(self, timeout: float = 0.3) -> bool:
        return await self.comm.receive_nothing(timeout=timeout)

    async def join(self, room_id: str, name: str = "p", color: str = "#00FF00") -> dict[str, Any]:
        await self.send({"type": "Join", "room_id": room_id, "name": name, "color": color})
        welcome = await self.recv_type("Welcome")
        self.client_id = welcome["client_id"]
        return welcome

    async def ping(self, t: Any = "alive") -> None:
        """The connection is open and answers: a Ping gets its Pong (only StateUpdates between)."""
        await self.send({"type": "Ping", "t": t})
        assert await self.recv_type("Pong") == {"type": "Pong", "t": t}

    async def close(self) -> None:
        await self.comm.disconnect(timeout=5)


# --- tokens -------------------------------------------------------------------------------------


def claims(**changes: Any) -> dict[str, Any]:
    """Claims the server accepts (sub alice, name Alice, 5 minutes), with `changes`;
    a change to None removes the claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": settings.JWT_ISSUER,
        "sub": "alice",
        "name": "Alice",
        "iat": now,
        "exp": now + 300,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def hs256(key: str | None = None, **changes: Any) -> str:
    return jwt.encode(claims(**changes), key or settings.JWT_SECRET, algorithm="HS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], *, hmac_key: bytes | None) -> str:
    """A JWT built by hand (PyJWT refuses to make `alg: none` or HMAC-with-a-public-key ones)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if hmac_key is None:
        return f"{signing_input}."
    signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@contextlib.contextmanager
def jwt_settings(**overrides: Any) -> Iterator[None]:
    """override_settings for the JWT_* settings, which signight.auth caches in `backend()`."""
    auth.backend.cache_clear()
    try:
        with override_settings(**overrides):
            yield
    finally:
        auth.backend.cache_clear()
