"""Reads about rooms (the active rooms for GET /rooms, who was in a room lately, the sanctions in
force) and the one write of the HTTP API: a new room (POST /rooms)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus

from django.db import IntegrityError
from django.db.models import Q
from django.utils import timezone

from rooms import presence
from rooms.models import Room, Sanction
from rooms.sanctions import Row
from signight.errors import DomainError


@dataclass(frozen=True)
class ActiveRoom:
    room_id: str
    player_count: int
    max_players: int
    created_at: datetime | None


def rooms_active() -> list[ActiveRoom]:
    """Rooms with at least one connected player (live state in Redis), most players first."""
    live = presence.room_counts()
    if not live:
        return []
    records = {room.room_id: room for room in Room.objects.filter(room_id__in=[r for r, _ in live])}
    out = []
    for room_id, count in live:
        record = records.get(room_id)
        out.append(
            ActiveRoom(
                room_id=room_id,
                player_count=count,
                max_players=record.max_players if record else 0,
                created_at=record.created_at if record else None,
            )
        )
    return out


def sanctions_in_force() -> list[Row]:
    """Every ban, mute and kick that holds now (a kick is stored until its player's resume
    tokens have all expired)."""
    query = Sanction.objects.filter(lifted_at=None).filter(
        Q(until=None) | Q(until__gt=timezone.now())
    )
    return [
        Row(
            kind=row.kind,
            subject=row.subject,
            room_id=row.room_id,
            created=row.created_at.timestamp(),
            until=row.until.timestamp() if row.until is not None else None,
        )
        for row in query
    ]


def player_in_room_lately(room_id: str, client_id: str) -> bool:
    """In the room now (away included) or within the last hour (CHAT_HISTORY_ACCESS=member)."""
    return presence.player_in_room_lately(room_id, client_id)


class RoomExists(DomainError):
    code = "room_exists"
    http_status = HTTPStatus.CONFLICT


def room_create(*, room_id: str, max_players: int) -> Room:
    """A new room record (POST /rooms); RoomExists if the id is taken."""
    try:
        return Room.objects.create(room_id=room_id, max_players=max_players)
    except IntegrityError:
        raise RoomExists(f"room {room_id} exists") from None
