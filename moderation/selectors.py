"""Reads for moderation: who may moderate, and the live rooms page (rooms with players now, from
Redis: each player's name, client_id, process, and whether it is away)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rooms import presence
from signight.permissions import user_for_subject

PERMISSION = "moderation.moderate"


def can_moderate(user: Any) -> bool:
    return bool(user is not None and user.is_active and user.has_perm(PERMISSION))


def moderator_for(subject: str) -> Any:
    """The Django user a token's subject names (signight.permissions), if it may moderate."""
    user = user_for_subject(subject)
    return user if can_moderate(user) else None


@dataclass(frozen=True)
class LivePlayer:
    client_id: str
    name: str
    process: str  # the node id holding its socket, or "away" (resumable, no socket)


@dataclass(frozen=True)
class LiveRoom:
    room_id: str
    player_count: int
    players: list[LivePlayer]
    chat: list[dict[str, Any]]  # its recent chat (Redis), newest last


def live_rooms() -> list[LiveRoom]:
    rooms = []
    for room_id, count in presence.room_counts():
        players = [
            LivePlayer(client_id=client_id, name=name, process=node or "away")
            for client_id, name, node in presence.room_players(room_id)
        ]
        rooms.append(
            LiveRoom(
                room_id=room_id,
                player_count=count,
                players=players,
                chat=presence.chat_recent(room_id),
            )
        )
    return rooms
