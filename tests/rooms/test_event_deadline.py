"""A room event is delivered once, and in time (issue 11): one that reaches a process after its
deadline is dropped, so a publish held up in a partition and run late cannot deliver a chat
whose sender was told it had failed; one published twice (a retry after a lost answer) is
delivered once."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from rooms import broadcast, protocol

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_hub")]


def late_chat(room_id: str, message: str) -> protocol.RoomEvent:
    return protocol.chat(
        protocol.chat_item(
            id="0" * 24,
            room_id=room_id,
            client_id="someone",
            name="Someone",
            message=message,
            created_at=datetime.now(UTC),
        ),
        seq=1,
    )


async def test_an_event_past_its_deadline_is_not_delivered(room_id, players) -> None:
    watcher = await players.connect()
    await watcher.join(room_id, "Watcher")
    seq = 2**52  # above the Welcome's: events are numbered from Redis' clock in µs
    await broadcast.event(room_id, late_chat(room_id, "late"), seq=seq, deadline=time.time() - 1)
    await broadcast.event(
        room_id, late_chat(room_id, "in time"), seq=seq + 1, deadline=time.time() + 5
    )
    assert (await watcher.recv_type("Chat"))["message"] == "in time"


async def test_an_event_published_twice_is_delivered_once(room_id, players) -> None:
    """A publish retried after its answer was lost reaches Redis twice."""
    watcher = await players.connect()
    await watcher.join(room_id, "Watcher")
    seq = 2**52 + 7
    for _ in range(2):
        await broadcast.event(room_id, late_chat(room_id, "twice"), seq=seq)
    await broadcast.event(room_id, late_chat(room_id, "next"), seq=seq + 1)
    assert (await watcher.recv_type("Chat"))["message"] == "twice"
    assert (await watcher.recv_type("Chat"))["message"] == "next"
