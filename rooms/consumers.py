"""GameConsumer: one WebSocket — admit, parse, dispatch, translate errors; nothing else.

Admission (rooms.admission) decides who may open a socket, the Guard (rooms.limits) rules on
rates, the services (rooms.services) do everything a message means. A DomainError becomes an
Error frame; anything unexpected is logged and closes 1011.

Lean on purpose: no channel of its own on the channel layer (its process's hub receives room
traffic once for all sockets), and no per-message thread hop (Channels' dispatch awaits
aclose_old_connections() on every message; the ORM is only reached through
database_sync_to_async, which closes stale connections itself).
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

from rooms import admission, chatting, moderation, protocol, services
from rooms.limits import Action, Guard
from rooms.outbox import Outbox
from rooms.sanctions import Muted
from rooms.session import PlayerSession
from signight import errors, lifecycle, metrics
from signight.errors import DomainError

logger = logging.getLogger(__name__)
C = protocol.CloseCode


class GameConsumer(AsyncWebsocketConsumer):
    session: PlayerSession
    guard: Guard

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        self.channel_layer = None  # type: ignore[assignment]  # no channel of its own: see above
        self.base_send = send
        self.outbox = Outbox(send, limit=settings.WS_SEND_QUEUE_LIMIT, on_overflow=self._overflow)
        self.admitted: admission.Admission | None = None
        self.registered = False
        self._closing = False
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

    # --- ASGI events ---------------------------------------------------------------------------

    async def on_connect(self, message: dict[str, Any]) -> None:
        try:
            self.admitted = admission.admit(self.scope)
            await moderation.refuse_banned(self.admitted.identity)
        except admission.Refused as refused:
            # Accept first: a close before accept reaches a browser only as 1006.
            await self._accept(admission.offered_bearer(self.scope))
            await self.close_with(refused.code, refused.reason)
            return
        await self._accept(self.admitted.subprotocol)
        if lifecycle.draining:
            await self.close_with(C.GOING_AWAY, lifecycle.DRAIN_REASON)
            return
        identity = self.admitted.identity
        self.session = PlayerSession(
            client_id=identity.client_id if identity else str(uuid.uuid4()),
            authenticated=identity is not None,
            token_name=identity.name if identity else None,
            token_expires_at=identity.expires_at if identity else None,
            outbox=self.outbox,
        )
        self.guard = Guard.from_settings()
        logger.info("connected from %s", self.admitted.client_ip, extra=self.log_context())
        self.registered = True
        try:
            await services.connection_open(self)
        except Exception:
            logger.exception("cannot serve a new connection", extra=self.log_context())
            await self.close_with(C.TRY_AGAIN_LATER, "service unavailable")

    async def on_receive(self, message: dict[str, Any]) -> None:
        if self._closing:
            return
        now = self.last_seen = time.monotonic()
        raw = message.get("text")
        parsed: protocol.Message | None = None
        try:
            if raw is None:
                raise protocol.ProtocolError("binary frames are not supported; send JSON text")
            parsed = protocol.parse(raw)
            _COUNT_IN[type(parsed)].inc()
            verdict = self.guard.check(parsed, now)
            if verdict.action is Action.ALLOW:
                await self.handlers[type(parsed)](self, parsed)
            elif verdict.action is Action.REFUSE:
                raise DomainError(verdict.reason, code=protocol.ErrorCode.RATE_LIMITED)
            elif verdict.action is Action.CLOSE:
                await self.close_with(C.RATE_LIMITED, verdict.reason)
        except Exception as exc:
            if parsed is not None:
                ref = parsed.id
            else:  # refused by parse: its `id`, if the frame was an object with one
                ref = exc.ref if isinstance(exc, protocol.ProtocolError) else None
            await self.failed(exc, ref)

    async def failed(self, exc: Exception, ref: str | None = None) -> None:
        """A DomainError (a backing service's outage included: `unavailable`) becomes an Error
        frame, with `ref` = the message's `id`; anything else closes 1011, logged, no details."""
        domain = errors.as_domain_error(exc)
        if domain is not None:
            metrics.ERRORS.labels(domain.code).inc()
            until = domain.until if isinstance(domain, Muted) else None
            await self.outbox.put(protocol.error(domain.code, str(domain), ref, until))
            return
        logger.error("unexpected error serving a client", exc_info=exc, extra=self.log_context())
        await self.close_with(C.INTERNAL_ERROR, "internal error")

    async def on_disconnect(self, message: dict[str, Any]) -> None:
        if self.admitted is not None:
            logger.info("disconnected (%s)", message.get("code"), extra=self.log_context())
        try:
            if self.registered:
                await services.connection_close(self, away=self._away(message))
        except Exception:
            logger.exception("leave on disconnect failed", extra=self.log_context())
        finally:
            if self.admitted is not None:
                admission.release(self.admitted)
                self.admitted = None
        raise StopConsumer

    def _away(self, message: dict[str, Any]) -> bool:
        """Only the client's own close with 1000 leaves the room at once (a Leave already has);
        any other end (a drop, 1001, the server's close, a crash) leaves the player resumable."""
        return self._closing or message.get("code") != C.NORMAL

    asgi_handlers: dict[str, Callable[[GameConsumer, dict[str, Any]], Awaitable[None]]] = {
        "websocket.connect": on_connect,
        "websocket.receive": on_receive,
        "websocket.disconnect": on_disconnect,
    }

    # --- protocol messages ---------------------------------------------------------------------

    async def on_join(self, msg: protocol.Join) -> None:
        await services.room_join(
            session=self.session,
            room_id=msg.room_id,
            name=msg.name,
            color=msg.color,
            spawn=msg.state,
        )

    async def on_update(self, msg: protocol.Update) -> None:
        services.player_update(session=self.session, state=msg.state)

    async def on_chat(self, msg: protocol.Chat) -> None:
        chatting.chat_post(
            session=self.session, message=msg.message, ref=msg.id, on_error=self.failed
        )

    async def on_leave(self, msg: protocol.Leave) -> None:
        await services.room_leave_requested(session=self.session)

    async def on_resume(self, msg: protocol.Resume) -> None:
        await services.room_resume(
            session=self.session, token=msg.resume_token, last_seq=msg.last_seq
        )

    async def on_refresh(self, msg: protocol.Refresh) -> None:
        await services.token_refresh(session=self.session, token=msg.token)

    async def on_ping(self, msg: protocol.Ping) -> None:
        await self.outbox.put(protocol.pong(msg.t))

    handlers: dict[type, Callable[[GameConsumer, Any], Awaitable[None]]] = {
        protocol.Join: on_join,
        protocol.Update: on_update,
        protocol.Chat: on_chat,
        protocol.Leave: on_leave,
        protocol.Ping: on_ping,
        protocol.Resume: on_resume,
        protocol.Refresh: on_refresh,
    }

    def log_context(self) -> dict[str, str | None]:
        session = getattr(self, "session", None)
        return {
            "client_id": session.client_id if session else None,
            "room_id": session.room_id if session else None,
        }

    # --- closing -------------------------------------------------------------------------------

    async def _accept(self, subprotocol: str | None) -> None:
        accept = {"type": "websocket.accept", "subprotocol": subprotocol}
        await self.base_send(accept)  # type: ignore[arg-type]  # ASGI allows subprotocol None

    async def close_with(self, code: int, reason: str = "") -> None:
        if self._closing:
            return
        self._closing = True
        if code not in (C.NORMAL, C.GOING_AWAY):
            metrics.ERRORS.labels(f"close_{int(code)}").inc()
        logger.info("closing socket: %s %s", int(code), reason, extra=self.log_context())
        self.outbox.close()
        try:
            await asyncio.wait_for(
                self.base_send({"type": "websocket.close", "code": int(code), "reason": reason}),
                2.0,
            )
        except Exception:
            _abort_transport(self.base_send)

    def _overflow(self) -> None:
        logger.warning("client does not read its frames; closing 1008", extra=self.log_context())
        asyncio.get_running_loop().create_task(
            self.close_with(C.POLICY_VIOLATION, "send queue overflow")
        )


_COUNT_IN = {kind: metrics.MESSAGES_IN.labels(kind.__name__) for kind in GameConsumer.handlers}


def _abort_transport(send: Any) -> None:
    """Last resort for a client that cannot even take a close frame (uvicorn internals)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
