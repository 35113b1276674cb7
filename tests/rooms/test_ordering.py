"""A local room's events in the room's order (rooms.ordering): an event that leaves a gap waits
for the one before it, the room's log fills a gap that stays, and a missing event is noticed
from the room's newest number. Pure: no Redis here (tests/rooms/test_reconcile.py and
tests/faults/test_resume_across_processes.py run the same on real processes)."""

from __future__ import annotations

import json

from rooms.ordering import RoomOrder, logged_event


def event(seq: int) -> dict[str, object]:
    return {"room": "r", "seq": seq, "frame": f"e{seq}"}


class Room:
    """The hub's side: the events seen (delivered or held), as LocalRoom.first_time keeps them."""

    def __init__(self, welcome_seq: int | None = 10) -> None:
        self.seen: set[int] = set()
        self.order = RoomOrder(self.seen.__contains__)
        if welcome_seq is not None:
            self.order.start(welcome_seq)

    def arrive(self, seq: int) -> list[int]:
        self.seen.add(seq)
        return [e["seq"] for e in self.order.offer(seq, event(seq))]


def test_events_in_order_pass_at_once() -> None:
    room = Room()
    assert [room.arrive(11), room.arrive(12)] == [[11], [12]]
    assert not room.order.waiting


def test_an_event_ahead_of_a_gap_waits_for_the_one_before_it() -> None:
    room = Room()
    assert room.arrive(12) == []
    assert room.order.waiting
    assert room.arrive(11) == [11, 12]
    assert not room.order.waiting and room.order.last == 12


def test_a_gap_that_stays_is_filled_from_the_log_in_order() -> None:
    room = Room()
    room.arrive(13)
    filled = room.order.fill([(11, event(11)), (12, event(12))], newest=14)
    assert [e["seq"] for e in filled] == [11, 12, 13]
    assert room.order.last == 14, "14 is in the log after the read, or was withdrawn"
    assert not room.order.waiting


def test_the_log_unreadable_the_held_events_go_in_order() -> None:
    room = Room()
    room.arrive(14)
    room.arrive(13)
    assert [e["seq"] for e in room.order.give_up()] == [13, 14]
    assert room.arrive(15) == [15]


def test_before_the_first_welcome_and_late_events_pass_as_they_come() -> None:
    room = Room(welcome_seq=None)
    assert room.arrive(7) == [7], "held by the joiner, filtered by its Welcome's seq"
    room.order.start(10)
    assert room.arrive(9) == [9], "late: at or below the newest in order, never a gap"


def test_an_event_delivered_before_the_welcome_is_no_gap() -> None:
    room = Room(welcome_seq=None)
    room.arrive(11)  # held by the joiner, then its Welcome says 10
    room.order.start(10)
    assert room.arrive(12) == [12]


def test_an_event_missing_since_the_last_look_is_overdue() -> None:
    room = Room()
    assert room.order.overdue(10) is False, "the first look"
    assert room.order.overdue(11) is False, "11 may be on its way"
    assert room.order.overdue(11) is True, "numbered a look ago, still not here"
    room.order.fill([(11, event(11))], newest=11)
    assert room.order.overdue(11) is False


def test_a_room_that_began_anew_is_not_overdue() -> None:
    room = Room()
    room.order.overdue(20)
    assert room.order.overdue(None) is False, "its keys are gone"
    assert room.order.overdue(5) is False


def test_a_logged_frame_becomes_the_event_its_publish_carried() -> None:
    joined = {"type": "PlayerJoined", "room_id": "r", "client_id": "p", "state": {}, "seq": 3}
    left = {"type": "PlayerLeft", "room_id": "r", "client_id": "p", "seq": 4}
    chat = {"type": "Chat", "room_id": "r", "client_id": "q", "message": "hi", "seq": 5}
    frames = [json.dumps(f).encode() for f in (joined, left, chat)]
    events = [logged_event("r", seq, frame) for seq, frame in zip((3, 4, 5), frames, strict=True)]
    assert [(e["kind"], e["exclude"], e["left"]) for e in events] == [
        ("PlayerJoined", "p", None),
        ("PlayerLeft", None, "p"),
        ("Chat", None, None),
    ]
    assert [json.loads(e["frame"]) for e in events] == [joined, left, chat]
