"""A tutorial-style game consumer: the yardstick the product is measured against (issue 6).

Written the way the Channels tutorial writes a chat room: an AsyncJsonWebsocketConsumer that
joins the group "room_<id>" and group_sends every message to it, each consumer turning the
group message into a frame. So every Update costs one group_send through Redis and one frame
per player in the room: no tick, no coalescing, no presence store (Welcome's room_state is
empty), no validation beyond the message type. Chat is not persisted: the baseline measures
the socket and the channel layer, not MongoDB. Channels' per-message aclose_old_connections()
thread hop in AsyncConsumer.dispatch is left in on purpose: it is part of the tutorial's cost.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class BaselineGameConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.client_id = str(uuid.uuid4())
        self.room_group: str | None = None
        self.name = ""
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.leave()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "Join":
            await self.join(content)
        elif kind == "Update":
            if self.room_group is None:
                await self.error("not_in_room", "join a room before sending updates")
                return
            await self.channel_layer.group_send(
                self.room_group,
                {"type": "state.update", "client_id": self.client_id, "state": content["state"]},
            )
        elif kind == "Chat":
            if self.room_group is None:
                await self.error("not_in_room", "join a room before chatting")
                return
            await self.channel_layer.group_send(
                self.room_group,
                {
                    "type": "chat.message",
                    "item": {
                        "id": uuid.uuid4().hex,
                        "room_id": self.room_group.removeprefix("room_"),
                        "client_id": self.client_id,
                        "name": self.name,
                        "message": str(content.get("message", ""))[:500],
                        "timestamp": time.time(),
                    },
                },
            )
        elif kind == "Leave":
            await self.leave()
        elif kind == "Ping":
            await self.send_json({"type": "Pong", "t": content.get("t")})
        else:
            await self.error("unknown_type", f"unknown message type {kind!r}")

    async def join(self, content: dict[str, Any]) -> None:
        await self.leave()
        room_id = str(content.get("room_id", ""))
        self.name = str(content.get("name", ""))[:32]
        self.room_group = f"room_{room_id}"
        await self.channel_layer.group_add(self.room_group, self.channel_name)
        await self.send_json(
            {
                "type": "Welcome",
                "client_id": self.client_id,
                "room_id": room_id,
                "room_state": [],
                "chat_history": [],
            }
        )
        state = {
            "name": self.name,
            "color": content.get("color", "#FFFFFF"),
            "position": [0, 0, 0],
            "rotation": [1, 0, 0, 0],
        }
        await self.channel_layer.group_send(
            self.room_group,
            {"type": "player.joined", "client_id": self.client_id, "state": state},
        )

    async def leave(self) -> None:
        if self.room_group is not None:
            group, self.room_group = self.room_group, None
            await self.channel_layer.group_discard(group, self.channel_name)
            await self.channel_layer.group_send(
                group, {"type": "player.left", "client_id": self.client_id}
            )

    async def error(self, code: str, message: str) -> None:
        await self.send_json({"type": "Error", "code": code, "message": message})

    # --- group messages -> frames ------------------------------------------------------------

    async def state_update(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "StateUpdate",
                "players": [{"client_id": event["client_id"], "state": event["state"]}],
            }
        )

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "Chat", **event["item"]})

    async def player_joined(self, event: dict[str, Any]) -> None:
        if event["client_id"] != self.client_id:
            await self.send_json(
                {"type": "PlayerJoined", "client_id": event["client_id"], "state": event["state"]}
            )

    async def player_left(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "PlayerLeft", "client_id": event["client_id"]})
