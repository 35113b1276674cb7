"""Helpers for socket tests: a player speaking the protocol through Channels' communicator."""

from __future__ import annotations

import json
from typing import Any

from channels.testing import WebsocketCommunicator

from signight.asgi import application

STATE = {"name": "p", "color": "#00FF00", "position": [1, 2, 3], "rotation": [1, 0, 0, 0]}


class Player:
    def __init__(self, path: str = "/ws/", **kwargs: Any) -> None:
        self.comm = WebsocketCommunicator(application, path, **kwargs)
        self.client_id: str | None = None

    async def connect(self) -> Player:
        connected, _ = await self.comm.connect(timeout=5)
        assert connected
        return self

    async def send(self, message: dict[str, Any]) -> None:
        await self.comm.send_to(text_data=json.dumps(message, ensure_ascii=False))

    async def send_raw(self, text: str | None = None, data: bytes | None = None) -> None:
        await self.comm.send_to(text_data=text, bytes_data=data)

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        return json.loads(await self.comm.receive_from(timeout=timeout))

    async def recv_type(self, kind: str, timeout: float = 5) -> dict[str, Any]:
        """The next frame of this type; StateUpdates before it are skipped."""
        while True:
            frame = await self.recv(timeout)
            if frame["type"] == kind:
                return frame
            assert frame["type"] == "StateUpdate", frame

    async def join(self, room_id: str, name: str = "p", color: str = "#00FF00") -> dict[str, Any]:
        await self.send({"type": "Join", "room_id": room_id, "name": name, "color": color})
        welcome = await self.recv_type("Welcome")
        self.client_id = welcome["client_id"]
        return welcome

    async def nothing_more(self, timeout: float = 0.3) -> bool:
        return await self.comm.receive_nothing(timeout=timeout)

    async def close(self) -> None:
        await self.comm.disconnect()
