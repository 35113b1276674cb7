"""Chat writes: persist a message first (in a batch, chat.writer), then broadcast it to the room."""

from __future__ import annotations

import logging

from chat.models import ChatMessage
from chat.selectors import chat_message_item
from chat.writer import BatchWriter
from rooms import broadcast, presence, protocol
from rooms.session import PlayerSession
from signight import metrics
from signight.errors import DomainError
from signight.loops import PerLoop

logger = logging.getLogger(__name__)


def chat_messages_store(rows: list[ChatMessage]) -> list[ChatMessage]:
    """Insert a batch of messages in one write; bulk_create sets their pk and created_at."""
    return ChatMessage.objects.bulk_create(rows)


def _store(rows: list[ChatMessage]) -> list[ChatMessage]:
    return chat_messages_store(rows)  # looked up per call, so tests can stand in for it


_writer = PerLoop(lambda: BatchWriter(_store))  # one batch in flight per event loop


async def chat_message_post(*, session: PlayerSession, message: str) -> None:
    """Persist, then broadcast to the whole room, sender included (its acknowledgement)."""
    if session.room_id is None or session.room_pk is None:
        raise DomainError("join a room before chatting", code=protocol.ErrorCode.NOT_IN_ROOM)
    room_id = session.room_id
    row = ChatMessage(
        room_id=session.room_pk,
        client_id=session.client_id,
        name=session.name or "",
        message=message,
    )
    try:
        stored = await _writer.get().store(row)
    except Exception:
        logger.exception("chat persistence failed in room %s", room_id)
        raise DomainError(
            "chat is unavailable right now; the message was not sent",
            code=protocol.ErrorCode.CHAT_UNAVAILABLE,
        ) from None
    item = chat_message_item(stored, room_id=room_id)
    metrics.CHAT_PERSISTED.inc()
    seq = await presence.chat_append(room_id, protocol.encode_item(item))
    await broadcast.event(room_id, protocol.chat(item), seq=seq)
