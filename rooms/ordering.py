"""A local room's events in the room's order: each event is numbered (`seq`) in Redis by the
script that logs it, then published on a pooled connection, so two events can reach a process
in the other order, and an event whose publish was lost (its answer lost to a timeout, its
process killed in between) never comes at all. RoomOrder holds an event that leaves a gap until
the gap closes, or until the hub fills it from the room's event log (presence.events_since);
pure: the hub does the waiting and the I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]  # a room.event message (rooms.broadcast.event)

GAP_WAIT = 0.2  # seconds an event waits for the one before it, before the log is read


@dataclass(slots=True, eq=False)
class RoomOrder:
    """`last` is the newest seq delivered here in order (None until the first Welcome or
    Resumed of a local member gives the room's number); `delivered` tells whether a seq was
    delivered already (the room's recently seen events)."""

    delivered: Callable[[int], bool]
    last: int | None = None
    pending: dict[int, Event] = field(default_factory=dict)
    observed: int | None = None  # the room's newest number, as `overdue` last read it

    @property
    def waiting(self) -> bool:
        """An event is held for a gap before it."""
        return bool(self.pending)

    def start(self, seq: int) -> None:
        """A member was welcomed at `seq` (its snapshot holds every event up to it)."""
        if self.last is None:
            self.last = seq
            self._skip_delivered()

    def offer(self, seq: int, event: Event) -> list[Event]:
        """A new event arrived: the events now deliverable, in order (none while a gap is open
        before it). Before the first Welcome, and at or below `last` (late, never a gap), an
        event passes as it came."""
        if self.last is None or seq <= self.last:
            return [event]
        self.pending[seq] = event
        return self._release()

    def fill(self, logged: Iterable[tuple[int, Event]], newest: int) -> list[Event]:
        """The room's log was read: `logged` are its events after `last` not delivered yet, and
        `newest` the room's number then (every event up to it was logged, or withdrawn). Every
        held event goes too, all in order; the gap is closed."""
        merged = dict(logged)
        merged.update(self.pending)
        self.pending.clear()
        ordered = [merged[seq] for seq in sorted(merged)]
        self.last = max(self.last or 0, newest, *merged) if merged else max(self.last or 0, newest)
        return ordered

    def give_up(self) -> list[Event]:
        """The log could not be read: the held events go in order, the gap stays a gap."""
        return self.fill((), 0)

    def overdue(self, newest: int | None) -> bool:
        """Given the room's newest number now: is an event numbered before the previous look
        still missing here (its publish lost)? Then the hub reads the log."""
        before, self.observed = self.observed, newest
        return (
            self.last is not None
            and before is not None
            and newest is not None
            and newest >= before  # else the room's keys went and it began anew meanwhile
            and self.last < before
            and not self.pending  # a fill is on its way already
        )

    def _release(self) -> list[Event]:
        assert self.last is not None
        out: list[Event] = []
        while True:
            self._skip_delivered()
            following = self.pending.pop(self.last + 1, None)
            if following is None:
                return out
            out.append(following)
            self.last += 1

    def _skip_delivered(self) -> None:
        assert self.last is not None
        while self.last + 1 not in self.pending and self.delivered(self.last + 1):
            self.last += 1


def logged_event(room_id: str, seq: int, frame: bytes) -> Event:
    """A frame read from the room's log as the room.event message its publish carried: a
    PlayerJoined is not for the joiner, a PlayerLeft names who left."""
    text = frame.decode()
    data = json.loads(text)
    kind = data.get("type", "event")
    who = data.get("client_id")
    return {
        "room": room_id,
        "frame": text,
        "seq": seq,
        "kind": kind,
        "exclude": who if kind == "PlayerJoined" else None,
        "left": who if kind == "PlayerLeft" else None,
    }
