"""GameConsumer: adapts one WebSocket to the room and chat services.

It parses frames (rooms.protocol), dispatches through an explicit table, and turns DomainErrors
into Error frames and anything unexpected into close 1011. It is lean on purpose: no channel of
its own on the channel layer (its process's hub receives room traffic once for all sockets), and
no per-message thread hop (Channels' dispatch awaits aclose_old_connections() on every message;
the ORM is only reached through database_sync_to_async, which closes stale connections itself).
A Chat is stored and broadcast in a task of its own, chained to the socket's previous chat, so
the database never holds up the Updates behind it; Join, Leave and disconnect wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat.services import chat_message_post
from rooms import admission, protocol, services
from rooms.hub import hub
from rooms.limits import FloodGuard, TokenBucket
from rooms.outbox import Outbox
from rooms.session import PlayerSession
from signight import lifecycle, metrics
from signight.errors import DomainError

logger = logging.getLogger(__name__)
E = protocol.ErrorCode


class GameConsumer(AsyncWebsocketConsumer):
    session: PlayerSession
    admission: admission.Admission | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        self._closing = False
        self._chat_tail: asyncio.Task[None] | None = None  # the newest chat being posted
        self.last_seen = time.monotonic()
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
        outbox = Outbox(
            self.base_send, limit=settings.WS_SEND_QUEUE_LIMIT, on_overflow=self._on_overflow
        )
        self.session = PlayerSession(client_id=str(uuid.uuid4()), outbox=outbox)
        try:
            self.admission = admission.admit(self.scope)
        except admission.Refused as refused:
            # Accept first: a close before accept reaches a browser only as 1006.
            await self.base_send({"type": "websocket.accept", "subprotocol": _bearer(self.scope)})
            await self.close_with(refused.code, refused.reason)
            return
        subprotocol = self.admission.subprotocol
        await self.base_send({"type": "websocket.accept", "subprotocol": subprotocol})
        if lifecycle.draining:
            await self.close_with(protocol.CloseCode.GOING_AWAY, lifecycle.RECONNECT_REASON)
            return
        identity = self.admission.identity
        if identity is not None:
            self.session.client_id = identity.client_id
            self.session.token_name = identity.name
            # One player, one socket: the same subject connecting again replaces the older one,
            # which leaves its room before this one can join as the same client_id.
            for older in hub.sockets_of(identity.client_id, besides=self):
                await older.retire()
        self.update_bucket = TokenBucket(
            rate=settings.WS_UPDATE_RATE, capacity=settings.WS_UPDATE_RATE
        )
        self.chat_bucket = TokenBucket(
            rate=settings.WS_CHAT_RATE / settings.WS_CHAT_PERIOD, capacity=settings.WS_CHAT_BURST
        )
        self.flood = FloodGuard(close_after=settings.WS_FLOOD_CLOSE_SECONDS)
        hub.sockets.add(self)
        logger.info("connected from %s", self.admission.client_ip, extra=self.log_context())
        try:
            await hub.ensure_started()
        except Exception:
            logger.exception("cannot start the room hub", extra=self.log_context())
            await self.close_with(protocol.CloseCode.TRY_AGAIN_LATER, "service unavailable")

    async def on_receive(self, message: dict[str, Any]) -> None:
        if self._closing:
            return
        self.last_seen = time.monotonic()
        raw = message.get("text")
        try:
            if raw is None:
                raise protocol.ProtocolError("binary frames are not supported; send JSON text")
            parsed = protocol.parse(raw)
            _COUNT_IN[type(parsed)].inc()
            await self.handlers[type(parsed)](self, parsed)
        except Exception as exc:
            await self._failed(exc)

    async def _failed(self, exc: Exception) -> None:
        """A DomainError becomes an Error frame; anything else closes 1011, logged, no details."""
        if isinstance(exc, DomainError):
            metrics.ERRORS.labels(exc.code).inc()
            await self.session.send(protocol.error(exc.code, str(exc)))
            return
        logger.error("unexpected error serving a client", exc_info=exc, extra=self.log_context())
        await self.close_with(protocol.CloseCode.INTERNAL_ERROR, "internal error")

    async def on_disconnect(self, message: dict[str, Any]) -> None:
        session = getattr(self, "session", None)
        if self.admission is not None:
            logger.info("disconnected (%s)", message.get("code"), extra=self.log_context())
        try:
            if session is not None:
                await self._chats_posted()  # accepted chats are stored and sent before leaving
                session.outbox.close()
                await services.room_leave(session=session)
        except Exception:
            logger.exception("leave on disconnect failed", extra=self.log_context())
        finally:
            if self.admission is not None:
                admission.release(self.admission)
                self.admission = None
            hub.sockets.discard(self)
        raise StopConsumer

    asgi_handlers: dict[str, Callable[[GameConsumer, dict[str, Any]], Awaitable[None]]] = {
        "websocket.connect": on_connect,
        "websocket.receive": on_receive,
        "websocket.disconnect": on_disconnect,
    }

    # --- protocol messages -------------------------------------------------------------------

    async def on_join(self, msg: protocol.Join) -> None:
        await self._chats_posted()  # a chat sent before a Join belongs to the earlier room
        await services.room_join(
            session=self.session, room_id=msg.room_id, name=msg.name, color=msg.color
        )

    async def on_update(self, msg: protocol.Update) -> None:
        now = time.monotonic()
        if not self.update_bucket.take(now):
            await self._limited(now, f"more than {settings.WS_UPDATE_RATE} Updates per second")
            return
        services.player_update(session=self.session, state=msg.state)

    async def on_chat(self, msg: protocol.Chat) -> None:
        now = time.monotonic()
        if not self.chat_bucket.take(now):
            self.flood.limited(now)
            await self._limited(now, "chat rate limit reached", always=True)
            return
        if self.session.room_id is None:
            raise DomainError("join a room before chatting", code=E.NOT_IN_ROOM)
        # Stored and broadcast beside this socket's next messages, in the order sent: a slow
        # database delays this player's chat, never its Updates (no head-of-line blocking).
        self._chat_tail = asyncio.create_task(self._post_chat(msg.message, self._chat_tail))

    async def _post_chat(self, message: str, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await previous
        try:
            await chat_message_post(session=self.session, message=message)
        except Exception as exc:
            await self._failed(exc)

    async def _chats_posted(self) -> None:
        """Wait for this socket's chats in flight (a room change waits for them)."""
        tail, self._chat_tail = self._chat_tail, None
        if tail is not None:
            await tail

    async def _limited(self, now: float, text: str, *, always: bool = False) -> None:
        notify, close = self.flood.limited(now)
        if close:
            await self.close_with(protocol.CloseCode.RATE_LIMITED, "flooding")
        elif notify or always:
            await self.session.send(protocol.error(E.RATE_LIMITED, text))

    async def on_leave(self, msg: protocol.Leave) -> None:
        if self.session.room_id is None:
            raise DomainError("not in a room", code=protocol.ErrorCode.NOT_IN_ROOM)
        await self._chats_posted()
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

    def log_context(self) -> dict[str, str | None]:
        session = getattr(self, "session", None)
        return {
            "client_id": session.client_id if session else None,
            "room_id": session.room_id if session else None,
        }

    # --- closing -----------------------------------------------------------------------------

    async def close_with(self, code: int, reason: str = "") -> None:
        if self._closing:
            return
        self._closing = True
        if code not in (protocol.CloseCode.NORMAL, protocol.CloseCode.GOING_AWAY):
            metrics.ERRORS.labels(f"close_{int(code)}").inc()
        logger.info("closing socket: %s %s", int(code), reason, extra=self.log_context())
        self.session.outbox.close()
        try:
            await asyncio.wait_for(
                self.base_send({"type": "websocket.close", "code": int(code), "reason": reason}),
                2.0,
            )
        except Exception:
            _abort_transport(self.base_send)

    async def retire(self) -> None:
        await self.close_with(protocol.CloseCode.REPLACED, "replaced by a newer connection")
        await self._chats_posted()
        self.session.outbox.close()
        await services.room_leave(session=self.session)

    def _on_overflow(self) -> None:
        logger.warning("client does not read its frames; closing 1008", extra=self.log_context())
        asyncio.get_running_loop().create_task(
            self.close_with(protocol.CloseCode.POLICY_VIOLATION, "send queue overflow")
        )


_COUNT_IN = {kind: metrics.MESSAGES_IN.labels(kind.__name__) for kind in GameConsumer.handlers}


def _bearer(scope: dict[str, Any]) -> str | None:
    return "bearer" if "bearer" in scope.get("subprotocols", []) else None


def _abort_transport(send: Any) -> None:
    """Last resort for a client that cannot even take a close frame (uvicorn internals)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
