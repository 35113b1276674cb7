"""The sanctions in force, as this process knows them (issue 15): bans (by token subject), mutes
(a player in a room, until a time) and kicks (a player's resume tokens issued before the kick are
void). Kept in memory, so that admission, chat and resume check them without a round trip; filled
from MongoDB (rooms.models.Sanction) and kept current by the operators' actions (rooms.moderation).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from rooms.protocol import ErrorCode
from signight.auth import client_id_for
from signight.errors import DomainError
from signight.text import iso_unix

# A kick voids resume tokens issued before it; a resume token lives a day (rooms.tokens).
KICK_MEMORY_SECONDS = 24 * 3600


class Muted(DomainError):
    """A Chat from a muted player: Error `muted`, with `until` (ISO 8601 UTC)."""

    code = ErrorCode.MUTED

    def __init__(self, until: float) -> None:
        self.until = iso_unix(until)
        super().__init__(f"an operator muted you in this room until {self.until}")


@dataclass(frozen=True, slots=True)
class Row:
    """One sanction as stored (rooms.models.Sanction), times in Unix seconds."""

    kind: str  # "ban" | "mute" | "kick"
    subject: str  # a ban's: the token subject; a mute's or kick's: the player's client_id
    room_id: str = ""
    created: float = 0.0
    until: float | None = None  # None: until lifted (a ban), or for ever


@dataclass(slots=True)
class Sanctions:
    bans: dict[str, float | None] = field(default_factory=dict)  # token subject -> until
    mutes: dict[tuple[str, str], float] = field(default_factory=dict)  # (room, client) -> until
    kicks: dict[str, float] = field(default_factory=dict)  # client -> when it was kicked
    loaded_at: float | None = None  # time.monotonic() of the latest load from MongoDB

    def banned(self, subject: str, now: float | None = None) -> bool:
        if subject not in self.bans:
            return False
        until = self.bans[subject]
        return until is None or until > (time.time() if now is None else now)

    def muted_until(self, room_id: str, client_id: str, now: float | None = None) -> float | None:
        until = self.mutes.get((room_id, client_id))
        if until is None or until <= (time.time() if now is None else now):
            return None
        return until

    def check_chat(self, room_id: str, client_id: str) -> None:
        """Raise Muted if this player may not chat in this room now."""
        until = self.muted_until(room_id, client_id)
        if until is not None:
            raise Muted(until)

    def resume_void(self, client_id: str, issued_at: float) -> bool:
        """A resume token issued before the player was kicked (or banned) is void."""
        kicked = self.kicks.get(client_id)
        return kicked is not None and issued_at <= kicked

    # --- changes -------------------------------------------------------------------------------

    def add(self, row: Row) -> None:
        if row.kind == "ban":
            self.bans[row.subject] = row.until
            client_id = client_id_for(row.subject)
            self.kicks[client_id] = max(row.created, self.kicks.get(client_id, 0.0))
        elif row.kind == "mute" and row.until is not None:
            self.mutes[(row.room_id, row.subject)] = row.until
        elif row.kind == "kick":
            self.kicks[row.subject] = max(row.created, self.kicks.get(row.subject, 0.0))

    def unban(self, subject: str) -> None:
        self.bans.pop(subject, None)

    def replace(self, rows: Iterable[Row], loaded_at: float) -> None:
        """Everything in force, as MongoDB has it now (changes applied meanwhile by a live
        action were stored before they were sent, so the rows include them)."""
        fresh = Sanctions()
        for row in rows:
            fresh.add(row)
        self.bans, self.mutes, self.kicks = fresh.bans, fresh.mutes, fresh.kicks
        self.loaded_at = loaded_at


sanctions = Sanctions()
