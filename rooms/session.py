"""PlayerSession: what the server knows of one connected client (consumer and services)."""

from __future__ import annotations

from dataclasses import dataclass

from rooms.outbox import Outbox


@dataclass(slots=True, eq=False)
class PlayerSession:
    client_id: str
    outbox: Outbox
    name: str | None = None  # from the token, when it has one; else from Join
    token_name: str | None = None
    room_id: str | None = None
    room_pk: object | None = None  # the Room's primary key, so chat skips a lookup
    color: str = "#FFFFFF"
    # Room events numbered up to joined_seq are in the Welcome snapshot; until the Welcome is
    # sent, events wait in `pending` so none is lost or seen twice.
    joined_seq: int = 0
    pending: list[tuple[int, str]] | None = None

    async def send(self, text: str) -> None:
        await self.outbox.put(text)
