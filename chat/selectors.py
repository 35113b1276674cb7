"""Reads of chat history: the latest messages of a room and keyset-paginated pages of it; whether a
token subject is banned (its history requests are refused)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bson import ObjectId
from bson.errors import InvalidId
from django.db.models import Q
from django.utils import timezone

from chat.models import ChatMessage
from rooms.models import Room, Sanction
from signight.errors import DomainError


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    MESSAGE = "`before` is not a cursor returned by an earlier page"


# What _cursor writes: Unix milliseconds (13 digits last until the year 2286), an ObjectId.
CURSOR_PATTERN = r"^[0-9]{1,13}-[0-9a-f]{24}\Z"
CURSOR_MAX_CHARS = 38


def _cursor(message: ChatMessage) -> str:
    return f"{int(message.created_at.timestamp() * 1000)}-{message.pk}"


def parse_cursor(cursor: str) -> tuple[datetime, ObjectId]:
    try:
        millis, oid = cursor.split("-", 1)
        return datetime.fromtimestamp(int(millis) / 1000, tz=UTC), ObjectId(oid)
    except (ValueError, InvalidId, OverflowError, OSError):
        raise InvalidCursor(InvalidCursor.MESSAGE) from None


@dataclass(frozen=True)
class HistoryPage:
    room_id: str
    messages: list[ChatMessage]  # oldest first
    next_before: str | None


def chat_history(*, room_id: str, limit: int, before: str | None = None) -> HistoryPage:
    """Up to `limit` messages older than `before`, oldest first, and the cursor of the next page;
    redacted messages are left out.

    Keyset pagination on (created_at, _id), served by the chat_room_latest index: pages never
    overlap or skip, whatever is posted meanwhile.
    """
    # Resolve the room first: filtering on room__room_id would be a $lookup across collections,
    # while room=<ObjectId> is served by the chat_room_latest index.
    room_pk = Room.objects.filter(room_id=room_id).values_list("pk", flat=True).first()
    if room_pk is None:
        return HistoryPage(room_id=room_id, messages=[], next_before=None)
    query = ChatMessage.objects.filter(room_id=room_pk, redacted_at=None)
    if before:
        at, oid = parse_cursor(before)
        query = query.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=oid))
    rows = list(query.order_by("-created_at", "-id")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_before = _cursor(rows[-1]) if has_more and rows else None
    rows.reverse()
    return HistoryPage(
        room_id=room_id,
        messages=rows,
        next_before=next_before,
    )


def chat_latest(*, room_id: str, limit: int) -> list[ChatMessage]:
    """The room's latest `limit` messages, oldest first."""
    return chat_history(room_id=room_id, limit=limit).messages


def subject_banned(subject: str) -> bool:
    """A ban on this token subject holds now (rooms.models.Sanction)."""
    now = timezone.now()
    bans = Sanction.objects.filter(kind=Sanction.Kind.BAN, subject=subject, lifted_at=None)
    return bans.filter(Q(until=None) | Q(until__gt=now)).exists()
