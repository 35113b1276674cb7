"""Chat writes: persist a message first, then broadcast it to the room."""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async

from chat.models import ChatMessage
from chat.selectors import chat_message_item
from rooms import broadcast, presence, protocol
from rooms.models import Room
from rooms.session import PlayerSession
from signight import metrics
from signight.errors import DomainError

logger = logging.getLogger(__name__)


def chat_message_create(
    *, room_id: str, room_pk: object | None, client_id: str, name: str, message: str
) -> dict[str, Any]:
    if room_pk is None:
        room_pk = Room.objects.values_list("pk", flat=True).get(room_id=room_id)
    row = ChatMessage.objects.create(
        room_id=room_pk, client_id=client_id, name=name, message=message
    )
    return chat_message_item(row, room_id=room_id)


async def chat_message_post(*, session: PlayerSession, message: str) -> None:
    """Persist, then broadcast to the whole room, sender included (its acknowledgement)."""
    if session.room_id is None:
        raise DomainError("join a room before chatting", code=protocol.ErrorCode.NOT_IN_ROOM)
    room_id = session.room_id
    try:
        # Not thread-sensitive: several chats may be stored at once (one connection per thread).
        item = await database_sync_to_async(chat_message_create, thread_sensitive=False)(
            room_id=room_id,
            room_pk=session.room_pk,
            client_id=session.client_id,
            name=session.name or "",
            message=message,
        )
    except Exception:
        logger.exception("chat persistence failed in room %s", room_id)
        raise DomainError(
            "chat is unavailable right now; the message was not sent",
            code=protocol.ErrorCode.CHAT_UNAVAILABLE,
        ) from None
    metrics.CHAT_PERSISTED.inc()
    seq = await presence.chat_append(room_id, protocol.encode_item(item))
    await broadcast.event(room_id, protocol.chat(item), seq=seq)
