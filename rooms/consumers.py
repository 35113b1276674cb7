"""GameConsumer: adapts one WebSocket to the room and chat services.

It parses frames (rooms.protocol), dispatches through an explicit table, and turns DomainErrors
into Error frames and anything unexpected into close 1011. It is lean on purpose: no channel of
its own on the channel layer (its process's hub receives room traffic once for all sockets), and
no per-message thread hop (Channels' dispatch awaits aclose_old_connections() on every message;
the ORM is only reached through database_sync_to_async, which closes stale connections itself).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from chat.services import chat_message_post
from rooms import protocol, services
from rooms.hub import hub
from rooms.outbox import Outbox
from rooms.session import PlayerSession
from signight.errors import DomainError

logger = logging.getLogger(__name__)

SEND_QUEUE_LIMIT = 256


class GameConsumer(AsyncWebsocketConsumer):
    session: PlayerSession

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        self._closing = False
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = self.asgi_handlers.get(message["type"])
        if handler is not None:
            await handler(self, message)

    # --- ASGI events -------------------------------------------------------------------------

    async def on_connect(self, message: dict[str, Any]) -> None:
        await self.base_send({"type": "websocket.accept"})
        outbox = Outbox(self.base_send, limit=SEND_QUEUE_LIMIT, on_overflow=self._on_overflow)
        self.session = PlayerSession(client_id=str(uuid.uuid4()), outbox=outbox)
        try:
            await hub.ensure_started()
        except Exception:
            logger.exception("cannot start the room hub")
            await self.close_with(protocol.CloseCode.TRY_AGAIN_LATER, "service unavailable")

    async def on_receive(self, message: dict[str, Any]) -> None:
        if self._closing:
            return
        raw = message.get("text")
        try:
            if raw is None:
                raise protocol.ProtocolError("binary frames are not supported; send JSON text")
            parsed = protocol.parse(raw)
            await self.handlers[type(parsed)](self, parsed)
        except DomainError as exc:
            await self.session.send(protocol.error(exc.code, str(exc)))
        except Exception:
            logger.exception("unexpected error serving client %s", self.session.client_id)
            await self.close_with(protocol.CloseCode.INTERNAL_ERROR, "internal error")

    async def on_disconnect(self, message: dict[str, Any]) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.outbox.close()
            try:
                await services.room_leave(session=session)
            except Exception:
                logger.exception("leave on disconnect failed for %s", session.client_id)
        raise StopConsumer

    asgi_handlers: dict[str, Callable[[GameConsumer, dict[str, Any]], Awaitable[None]]] = {
        "websocket.connect": on_connect,
        "websocket.receive": on_receive,
        "websocket.disconnect": on_disconnect,
    }

    # --- protocol messages -------------------------------------------------------------------

    async def on_join(self, msg: protocol.Join) -> None:
        await services.room_join(
            session=self.session, room_id=msg.room_id, name=msg.name, color=msg.color
        )

    async def on_update(self, msg: protocol.Update) -> None:
        services.player_update(session=self.session, state=msg.state)

    async def on_chat(self, msg: protocol.Chat) -> None:
        await chat_message_post(session=self.session, message=msg.message)

    async def on_leave(self, msg: protocol.Leave) -> None:
        if self.session.room_id is None:
            raise DomainError("not in a room", code=protocol.ErrorCode.NOT_IN_ROOM)
        await services.room_leave(session=self.session)

    async def on_ping(self, msg: protocol.Ping) -> None:
        await self.session.send(protocol.pong(msg.t))

    handlers: dict[type, Callable[[GameConsumer, Any], Awaitable[None]]] = {
        protocol.Join: on_join,
        protocol.Update: on_update,
        protocol.Chat: on_chat,
        protocol.Leave: on_leave,
        protocol.Ping: on_ping,
    }

    # --- closing -----------------------------------------------------------------------------

    async def close_with(self, code: int, reason: str = "") -> None:
        if self._closing:
            return
        self._closing = True
        self.session.outbox.close()
        try:
            await asyncio.wait_for(
                self.base_send({"type": "websocket.close", "code": int(code), "reason": reason}),
                2.0,
            )
        except Exception:
            _abort_transport(self.base_send)

    def _on_overflow(self) -> None:
        logger.warning("client %s does not read its frames; disconnecting", self.session.client_id)
        asyncio.get_running_loop().create_task(
            self.close_with(protocol.CloseCode.POLICY_VIOLATION, "send queue overflow")
        )


def _abort_transport(send: Any) -> None:
    """Last resort for a client that cannot even take a close frame (uvicorn internals)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
