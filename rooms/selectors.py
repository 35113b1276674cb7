"""Reads about rooms: the durable record, and the active rooms for GET /rooms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rooms import presence
from rooms.models import Room


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
