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
    connected_for: float | None = None  # seconds its socket has been open (None: not known)

    @property
    def connection_age(self) -> str:
        if self.connected_for is None:
            return "—"
        minutes, seconds = divmod(int(self.connected_for), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


@dataclass(frozen=True)
class LiveRoom:
    room_id: str
    player_count: int
    players: list[LivePlayer]
    chat: list[dict[str, Any]]  # its recent chat (Redis), newest last


def live_rooms(ages: dict[tuple[str, str], float]) -> list[LiveRoom]:
    """The rooms with players now (Redis); `ages`: each socket's age, as its process told."""
    rooms = []
    for room_id, count in presence.room_counts():
        players = [
            LivePlayer(
                client_id=client_id,
                name=name,
                process=node or "away",
                connected_for=ages.get((room_id, client_id)) if node else None,
            )
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
